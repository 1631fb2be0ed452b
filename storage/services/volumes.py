"""The verbs of storage: check the rules, take quota, write the Operation, queue the task.

Views and the API call these and nothing below them; hypervisor work happens in tasks.py."""

from django.db import transaction
from django.db.models import Q

from compute.choices import InstanceState
from compute.models import Instance
from portal import audit, operations, quotas
from portal.choices import WRITE_ROLES, Role
from portal.errors import ActionError, Conflict, NotPermitted
from storage import chains, instance_chains
from storage.choices import (
    BYTES_PER_GIB,
    LUN_POOL_TYPES,
    MAX_VOLUME_GB,
    QCOW2_HEADER_BYTES,
    QCOW2_MAGIC,
    QCOW2_SIZE_OFFSET,
    SCSI_TARGETS,
    UPLOAD_CHUNK,
    VIRTIO_TARGETS,
    Action,
    CloneMode,
    DeviceType,
    DiskBus,
    PoolState,
    Provisioning,
    SnapshotKind,
    SnapshotState,
    VolumeFormat,
    VolumeSource,
    VolumeState,
)
from storage.hosts import instance_running, volume_host
from storage.models import Snapshot, StoragePool, Volume
from storage.tasks import stream as stream_tasks
from storage.tasks import volumes as tasks

ROOT_TARGETS = ("vda", "sda")
# Instance states in which a disk may be hot- or cold-plugged.
ATTACHABLE_STATES = (InstanceState.ACTIVE, InstanceState.SHUTOFF, InstanceState.PAUSED)


# --- shared guards -------------------------------------------------------------------------


def _writable(user, project):
    if project.role_of(user) not in WRITE_ROLES:
        raise NotPermitted("Readers cannot change storage.")


def _staff(user):
    if not user.is_staff:
        raise NotPermitted("Only cloud admins manage storage pools and mapped devices.")


def _idle(target):
    running = operations.active_on(target)
    if running is not None:
        raise operations.TargetBusy(running)


def _queue(kind, target, user, task, *, detail=None, cancellable=False, request=None, audit_detail=None):
    """Operation + task on commit + audit, inside the caller's transaction."""
    op = operations.begin(
        kind, target, user=user, project=getattr(target, "project", None), cancellable=cancellable, detail=detail or {}
    )
    operations.dispatch(task, op)
    transaction.on_commit(lambda: audit.record(user, kind, target, request=request, **(audit_detail or detail or {})))
    return op


# --- pools (cloud admins) ------------------------------------------------------------------


def define_pool(user, *, hosts, request=None, **fields):
    """Define (or adopt, when it already exists) and start a pool on each of its hosts."""

    _staff(user)
    if not hosts:
        raise ActionError("A pool is seen by at least one host.", field="hosts")
    pool = StoragePool(state=PoolState.DEFINING, **fields)
    pool.simulated = all(host.simulated for host in hosts)
    pool.full_clean()
    with transaction.atomic():
        pool.save()
        pool.hosts.set(hosts)
        op = _queue(
            f"storagepool.{Action.DEFINE}",
            pool,
            user,
            tasks.pool_action,
            detail={"step": Action.DEFINE},
            request=request,
        )
    return pool, op


POOL_ACTIONS = (Action.START, Action.REFRESH, Action.STOP)


def pool_action(user, pool, action, request=None):
    _staff(user)
    if action not in POOL_ACTIONS:
        raise ActionError(f"A pool action is one of {', '.join(POOL_ACTIONS)}.", field="action")
    if action == Action.STOP and pool.volumes.filter(instance__isnull=False).exists():
        raise Conflict(f"Pool {pool.name} has attached volumes; detach them before stopping it.")
    with transaction.atomic():
        return _queue(f"storagepool.{action}", pool, user, tasks.pool_action, detail={"step": action}, request=request)


def delete_pool(user, pool, request=None):
    _staff(user)
    if pool.volumes.exists():
        raise Conflict(f"Pool {pool.name} still holds {pool.volumes.count()} volume(s).")
    with transaction.atomic():
        StoragePool.objects.filter(pk=pool.pk).update(state=PoolState.DELETING)
        return _queue(
            f"storagepool.{Action.DELETE}",
            pool,
            user,
            tasks.pool_action,
            detail={"step": Action.DELETE},
            request=request,
        )


def check_capacity(pool, size_gb, provisioning, exclude=None):
    """Thin overcommit limit and, for thick volumes, the free space. Call with the pool row
    locked (select_for_update) so two creations cannot both pass on the last gigabytes."""
    if pool.state != PoolState.ACTIVE:
        raise Conflict(f"Pool {pool.name} is {pool.state}, not active.")
    if not pool.capacity_bytes:
        raise Conflict(f"Pool {pool.name} reports no capacity yet; refresh it.")
    limit_gb = pool.capacity_gb * pool.overcommit_limit
    provisioned = pool.provisioned_gb(exclude=exclude)
    if provisioned + size_gb > limit_gb:
        raise ActionError(
            f"Pool {pool.name} would hold {provisioned + size_gb} GiB provisioned, over its limit of "
            f"{limit_gb:.0f} GiB ({pool.overcommit_limit:g} x capacity).",
            field="size_gb",
        )
    if provisioning == Provisioning.THICK and size_gb * BYTES_PER_GIB > pool.available_bytes:
        raise ActionError(
            f"Pool {pool.name} has {pool.available_bytes // BYTES_PER_GIB} GiB free; a thick volume "
            f"of {size_gb} GiB does not fit.",
            field="size_gb",
        )


# --- volumes -------------------------------------------------------------------------------


def create_volume(
    user,
    project,
    *,
    name,
    pool,
    size_gb=None,
    format=VolumeFormat.QCOW2,
    provisioning=Provisioning.THIN,
    source=VolumeSource.EMPTY,
    image=None,
    source_volume=None,
    source_snapshot=None,
    clone_mode=CloneMode.FULL,
    description="",
    request=None,
):

    _writable(user, project)
    if pool.type in LUN_POOL_TYPES:
        raise ActionError(
            "A LUN pool cannot create volumes: its volumes are the target's LUNs. A cloud admin maps a"
            " LUN to the project (raw device mapping), as a disk or passed through as SCSI.",
            field="pool",
        )
    volume = Volume(
        project=project,
        name=name,
        description=description,
        pool=pool,
        format=format,
        provisioning=provisioning,
        source=source,
        source_image=image,
        state=VolumeState.CREATING,
        simulated=pool.simulated,
    )
    size_gb = _check_source(volume, size_gb, image, source_volume, source_snapshot, clone_mode)
    volume.size_gb = size_gb
    if size_gb is None or not 1 <= size_gb <= MAX_VOLUME_GB:
        raise ActionError(f"A volume is 1 to {MAX_VOLUME_GB} GiB.", field="size_gb")
    volume.libvirt_name = volume.base_name
    volume.full_clean()
    with transaction.atomic():
        locked = StoragePool.objects.select_for_update().get(pk=pool.pk)
        check_capacity(locked, size_gb, provisioning)
        quotas.take(project, volumes=1, disk_gb=size_gb)
        volume.quota_held = True
        volume.save()
        op = _queue(
            f"volume.{Action.CREATE}",
            volume,
            user,
            tasks.create_volume,
            request=request,
            detail={
                "source": source,
                "clone_mode": clone_mode,
                "source_volume": getattr(source_volume, "pk", None),
                "source_snapshot": getattr(source_snapshot, "pk", None),
                "image": getattr(image, "pk", None),
            },
        )
    return volume, op


def _check_source(volume, size_gb, image, source_volume, source_snapshot, clone_mode):
    """The rules of each source; returns the size (at least the source's)."""
    linked = clone_mode == CloneMode.LINKED
    if clone_mode not in CloneMode.values:
        raise ActionError(f"clone_mode is one of {', '.join(CloneMode.values)}.", field="clone_mode")
    if volume.source == VolumeSource.EMPTY:
        if linked:
            raise ActionError("An empty volume is not a clone.", field="clone_mode")
        return size_gb
    if linked and volume.format != VolumeFormat.QCOW2:
        raise ActionError("A linked clone is a qcow2 overlay.", field="format")
    if volume.source == VolumeSource.IMAGE:
        if image is None:
            raise ActionError("Name the image.", field="image")
        minimum = max(image.virtual_size_gb, image.min_disk_gb)
    elif volume.source == VolumeSource.VOLUME:
        minimum = _check_source_volume(volume, source_volume, linked)
    elif volume.source == VolumeSource.SNAPSHOT:
        minimum = _check_source_snapshot(volume, source_snapshot)
    else:
        raise ActionError("Mapped devices are created by cloud admins (map_device).", field="source")
    if size_gb is not None and size_gb < minimum:
        raise ActionError(f"The source is {minimum} GiB; the volume cannot be smaller.", field="size_gb")
    return size_gb or minimum


def _check_source_volume(volume, source, linked):
    if source is None:
        raise ActionError("Name the source volume.", field="source_volume")
    if source.project_id != volume.project_id and not source.is_template:
        raise ActionError("The source volume belongs to another project.", field="source_volume")
    if source.state not in (VolumeState.AVAILABLE, VolumeState.IN_USE) or source.is_raw_device:
        raise Conflict(f"Volume {source.name} is {source.state}; it cannot be cloned now.")
    if linked:
        if not source.is_template:
            raise ActionError(
                "A linked clone's base must never change: mark the volume as a template first.", field="source_volume"
            )
        if source.pool_id != volume.pool_id:
            raise ActionError("A linked clone lives in its template's pool.", field="pool")
        volume.backing_volume = source
    return source.size_gb


def _check_source_snapshot(volume, snapshot):
    if snapshot is None or snapshot.volume_id is None or snapshot.kind != SnapshotKind.EXTERNAL:
        raise ActionError("Name an external snapshot of a volume.", field="source_snapshot")
    if snapshot.project_id != volume.project_id:
        raise ActionError("The snapshot belongs to another project.", field="source_snapshot")
    if snapshot.state != SnapshotState.AVAILABLE:
        raise Conflict(f"Snapshot {snapshot.name} is {snapshot.state}.")
    if snapshot.volume.pool_id != volume.pool_id:
        raise ActionError("A clone of a snapshot lives in the snapshot's pool.", field="pool")
    # A snapshot's frozen file never changes, so a clone of it may always be linked.
    volume.backing_snapshot = snapshot
    return snapshot.volume.size_gb


def map_device(
    user, project, *, name, pool, device_path, device_type=DeviceType.DISK, size_gb=1, bus=DiskBus.VIRTIO, request=None
):
    """Raw device mapping: expose a block device of the pool's hosts as a volume of `project`.
    It pins instances that use it to those hosts."""
    _staff(user)
    if device_type == DeviceType.LUN:
        bus = DiskBus.SCSI
    volume = Volume(
        project=project,
        name=name,
        pool=pool,
        format=VolumeFormat.RAW,
        size_gb=size_gb,
        provisioning=Provisioning.THICK,
        source=VolumeSource.DEVICE,
        device_path=device_path,
        device_type=device_type,
        bus=bus,
        path=device_path,
        state=VolumeState.AVAILABLE,
        simulated=pool.simulated,
    )
    volume.full_clean()
    with transaction.atomic():
        quotas.take(project, volumes=1)
        volume.quota_held = True
        volume.save()
    audit.record(user, "volume.map_device", volume, request=request, device=device_path)
    return volume


def _volume_guard(user, volume, *states):
    _writable(user, volume.project)
    _idle(volume)
    _not_in_instance_snapshot(volume)
    if states and volume.state not in states:
        raise Conflict(f"Volume {volume.name} is {volume.state}; this needs {' or '.join(states)}.")


def dependants(volume):
    """What keeps a volume alive: linked clones of it or of its snapshots."""
    return Volume.objects.filter(Q(backing_volume=volume) | Q(backing_snapshot__volume=volume))


def delete_volume(user, volume, *, wipe=False, request=None):
    _writable(user, volume.project)
    if volume.instance_id:
        raise Conflict(f"Volume {volume.name} is attached to {volume.instance}; detach it first.")
    _volume_guard(user, volume, VolumeState.AVAILABLE, VolumeState.ERROR)
    clones = list(dependants(volume).values_list("name", flat=True)[:5])
    if clones:
        raise Conflict(f"Volume {volume.name} has linked clones ({', '.join(clones)}); delete or flatten them first.")
    with transaction.atomic():
        Volume.objects.filter(pk=volume.pk).update(state=VolumeState.DELETING)
        return _queue(
            f"volume.{Action.DELETE}", volume, user, tasks.delete_volume, detail={"wipe": bool(wipe)}, request=request
        )


def free_target(volume, instance):
    taken = set(ROOT_TARGETS) | set(instance.volumes.exclude(pk=volume.pk).values_list("target_dev", flat=True))
    for target in SCSI_TARGETS if volume.bus == DiskBus.SCSI else VIRTIO_TARGETS:
        if target not in taken:
            return target
    raise Conflict(f"Instance {instance.name} has no free disk slot on the {volume.bus} bus.")


def attach_volume(
    user, volume, instance, *, bus=None, cache=None, discard=None, readonly=None, shareable=None, request=None
):

    _volume_guard(user, volume, VolumeState.AVAILABLE)
    if instance.project_id != volume.project_id:
        raise ActionError("No such instance in the volume's project.", field="instance")
    if instance.state not in ATTACHABLE_STATES:
        raise Conflict(f"Instance {instance.name} is {instance.state}; a disk attaches to an active or stopped one.")
    if instance.host_id is None or not volume.pool.hosts.filter(pk=instance.host_id).exists():
        raise ActionError(
            f"Instance {instance.name} runs on a host that cannot see pool {volume.pool.name}.", field="instance"
        )
    _idle(instance)
    for name, value in (
        ("bus", bus),
        ("cache", cache),
        ("discard", discard),
        ("readonly", readonly),
        ("shareable", shareable),
    ):
        if value is not None:
            setattr(volume, name, value)
    if volume.is_template and not volume.readonly:
        raise Conflict(f"Volume {volume.name} is a template: attach it read-only, or clone it.")
    volume.full_clean()
    target = free_target(volume, instance)
    with transaction.atomic():
        Volume.objects.filter(pk=volume.pk).update(
            state=VolumeState.BUSY,
            bus=volume.bus,
            cache=volume.cache,
            discard=volume.discard,
            readonly=volume.readonly,
            shareable=volume.shareable,
        )
        return _queue(
            f"volume.{Action.ATTACH}",
            volume,
            user,
            tasks.attach_volume,
            request=request,
            detail={"instance": instance.pk, "target_dev": target, "live": instance_running(instance)},
        )


def detach_volume(user, volume, request=None):
    _volume_guard(user, volume, VolumeState.IN_USE)
    with transaction.atomic():
        Volume.objects.filter(pk=volume.pk).update(state=VolumeState.BUSY)
        return _queue(
            f"volume.{Action.DETACH}",
            volume,
            user,
            tasks.detach_volume,
            request=request,
            detail={"instance": volume.instance_id, "target_dev": volume.target_dev},
        )


def resize_volume(user, volume, size_gb, request=None):
    _volume_guard(user, volume, VolumeState.AVAILABLE, VolumeState.IN_USE)
    if not isinstance(size_gb, int) or size_gb <= volume.size_gb:
        raise ActionError(f"A volume only grows: give more than its {volume.size_gb} GiB.", field="size_gb")
    if size_gb > MAX_VOLUME_GB:
        raise ActionError(f"A volume is at most {MAX_VOLUME_GB} GiB.", field="size_gb")
    if volume.is_template or volume.is_raw_device:
        raise Conflict(f"Volume {volume.name} is a template or a mapped device; its size is fixed.")
    delta = size_gb - volume.size_gb
    with transaction.atomic():
        pool = StoragePool.objects.select_for_update().get(pk=volume.pool_id)
        check_capacity(pool, size_gb, volume.provisioning, exclude=volume)
        quotas.take(volume.project, disk_gb=delta)
        previous = volume.state
        Volume.objects.filter(pk=volume.pk).update(state=VolumeState.BUSY)
        return _queue(
            f"volume.{Action.RESIZE}",
            volume,
            user,
            tasks.resize_volume,
            request=request,
            detail={"size_gb": size_gb, "from_gb": volume.size_gb, "state": previous},
        )


def set_template(user, volume, is_template, request=None):
    _volume_guard(user, volume)
    if not is_template and dependants(volume).filter(backing_volume=volume).exists():
        raise Conflict(f"Volume {volume.name} has linked clones; it stays a template while they exist.")
    if is_template and (volume.instance_id and not volume.readonly):
        raise Conflict(f"Volume {volume.name} is attached read-write; detach it before making it a template.")
    if is_template and volume.is_raw_device:
        raise Conflict("A mapped device cannot be a template.")
    Volume.objects.filter(pk=volume.pk).update(is_template=bool(is_template))
    volume.is_template = bool(is_template)
    audit.record(user, "volume.template", volume, request=request, is_template=volume.is_template)
    return volume


def flatten_volume(user, volume, request=None):
    _volume_guard(user, volume, VolumeState.AVAILABLE, VolumeState.IN_USE)
    if not volume.is_linked_clone:
        raise Conflict(f"Volume {volume.name} is not a linked clone.")
    if volume.snapshots.exists():
        raise Conflict(f"Volume {volume.name} has snapshots; delete them before flattening.")
    with transaction.atomic():
        previous = volume.state
        Volume.objects.filter(pk=volume.pk).update(state=VolumeState.BUSY)
        return _queue(
            f"volume.{Action.FLATTEN}", volume, user, tasks.flatten_volume, request=request, detail={"state": previous}
        )


def migrate_volume(user, volume, pool, request=None):
    """Move a volume to another pool: blockCopy + pivot when its instance runs, else a copy; a
    chain of external snapshots moves whole (storage.tasks.chain_move)."""

    _volume_guard(user, volume, VolumeState.AVAILABLE, VolumeState.IN_USE)
    if pool.pk == volume.pool_id:
        raise ActionError("The volume is already in this pool.", field="pool")
    if volume.is_raw_device or volume.is_template or volume.is_linked_clone or dependants(volume).exists():
        raise Conflict(
            f"Volume {volume.name} is a mapped device, a template or part of a linked clone; "
            "flatten or clone it instead of moving it."
        )
    host = volume_host(volume)
    _check_no_internal_snapshots(volume)
    if not pool.hosts.filter(pk=host.pk).exists():
        raise ActionError(
            f"Pool {pool.name} is not seen by host {host.name}; move the instance with storage migration instead.",
            field="pool",
        )
    with transaction.atomic():
        locked = StoragePool.objects.select_for_update().get(pk=pool.pk)
        check_capacity(locked, volume.size_gb, volume.provisioning)
        previous = volume.state
        Volume.objects.filter(pk=volume.pk).update(state=VolumeState.BUSY)
        return _queue(
            f"volume.{Action.MIGRATE}",
            volume,
            user,
            tasks.migrate_volume,
            cancellable=True,
            request=request,
            detail={
                "pool": pool.pk,
                "pool_name": pool.name,
                "state": previous,
                "live": instance_running(volume.instance),
            },
        )


def _check_no_internal_snapshots(volume):
    """Internal snapshots live inside the disk's qcow2 file, beside its current data."""
    instance = volume.instance
    if volume.format != VolumeFormat.QCOW2 or instance is None:
        return
    if instance.snapshots.filter(kind=SnapshotKind.INTERNAL).exists():
        raise Conflict(
            f"Instance {instance.name} has internal snapshots, kept inside the qcow2 file of each of its disks "
            f"(also of {volume.name}). A move writes a new file with the disk's current data only (a live mirror "
            "copies what the guest sees; an offline copy converts the image), so they would be lost. Delete the "
            "instance's internal snapshots first; external snapshots move with the disk."
        )


def reclaim_space(user, volume, request=None):
    _volume_guard(user, volume, VolumeState.IN_USE)
    if not instance_running(volume.instance):
        raise Conflict("Space is reclaimed by fstrim inside the running guest; start the instance first.")
    if volume.discard != "unmap":
        raise Conflict(f"Volume {volume.name} ignores discards; reattach it with discard=unmap.")
    with transaction.atomic():
        return _queue(f"volume.{Action.RECLAIM}", volume, user, tasks.reclaim_space, request=request)


# --- data in and out -----------------------------------------------------------------------


def _check_upload_body(volume, length, first):
    capacity = volume.size_gb * BYTES_PER_GIB
    if length <= 0:
        raise ActionError("Send the volume's data as the request body, with its Content-Length.", field="body")
    if volume.format == VolumeFormat.QCOW2:
        if not first.startswith(QCOW2_MAGIC) or len(first) < QCOW2_HEADER_BYTES:
            raise ActionError(
                f"Volume {volume.name} is qcow2: upload a qcow2 file (it starts with {QCOW2_MAGIC!r}).", field="body"
            )
        virtual = int.from_bytes(first[QCOW2_SIZE_OFFSET : QCOW2_SIZE_OFFSET + 8], "big")
        if virtual > capacity:
            raise ActionError(
                f"The qcow2 file is {virtual} bytes virtual; volume {volume.name} holds {capacity}.", field="body"
            )
    elif length > capacity:
        raise ActionError(f"{length} bytes do not fit into volume {volume.name} ({capacity} bytes).", field="body")


def upload_volume(user, volume, body, length, request=None):
    """Stream the request body (a file-like object of `length` bytes) into the volume over the
    libvirt connection while the request lasts, with progress on its Operation: the bytes come
    from this client, so no copy is kept on the portal's disk for a worker to read back. They go
    into a new file in the volume's pool, which replaces the old one only once complete: an upload
    cut off mid-way leaves the volume as it was and no half-written file. Returns the Operation."""

    _volume_guard(user, volume, VolumeState.AVAILABLE)
    if volume.is_raw_device or volume.is_template or volume.backing_path or volume.snapshots.exists():
        raise Conflict(
            f"Volume {volume.name} is a mapped device, a template, a linked clone or has snapshots: an "
            "upload replaces its one file, which would break what depends on it."
        )
    first = body.read(UPLOAD_CHUNK)
    _check_upload_body(volume, length, first)
    with transaction.atomic():
        op = operations.begin(
            f"volume.{Action.UPLOAD}", volume, user=user, project=volume.project, detail={"size": length}
        )
        Volume.objects.filter(pk=volume.pk).update(state=VolumeState.BUSY)
    audit.record(user, f"volume.{Action.UPLOAD}", volume, request=request, size=length)
    stream_tasks.upload_body(op, volume, _body_chunks(body, first, length), length)
    return op


def _body_chunks(body, first, length):
    """The request body in chunks, ``first`` already read; stops at ``length`` or when it ends."""
    received, chunk = 0, first
    while chunk and received < length:
        chunk = chunk[: length - received]
        received += len(chunk)
        yield chunk
        if received < length:
            chunk = body.read(min(UPLOAD_CHUNK, length - received))


def download_volume(user, volume, request=None):
    """(Operation, size, chunks) of the volume's file; the caller streams the chunks."""

    _idle(volume)
    if volume.is_raw_device:
        raise Conflict(f"Volume {volume.name} is a host device; Nubes does not read devices.")
    if volume.state not in (VolumeState.AVAILABLE, VolumeState.IN_USE) or instance_running(volume.instance):
        raise Conflict(
            f"Volume {volume.name} is {volume.state}"
            + (f" under the running {volume.instance.name}" if instance_running(volume.instance) else "")
            + ": a download reads a disk nothing writes to; stop the instance or detach the volume."
        )
    if volume.backing_path:
        raise Conflict(
            f"Volume {volume.name} is an overlay on {volume.backing_path} (snapshots or a linked clone): "
            "a download gives one file; flatten it or delete its snapshots first."
        )
    if volume.pool.state != PoolState.ACTIVE:
        raise Conflict(
            f"Volume {volume.name} cannot be read: its storage pool {volume.pool.name} is {volume.pool.state}."
        )
    size = stream_tasks.download_size(volume)
    op = operations.begin(f"volume.{Action.DOWNLOAD}", volume, user=user, project=volume.project, detail={"size": size})
    audit.record(user, f"volume.{Action.DOWNLOAD}", volume, request=request, size=size)
    return op, size, stream_tasks.download_chunks(op, volume)


# --- snapshots -----------------------------------------------------------------------------


def create_snapshot(user, *, name, volume=None, instance=None, kind=None, description="", request=None):
    if (volume is None) == (instance is None):
        raise ActionError("Snapshot a volume or an instance.")
    owner = volume or instance
    kind = kind or (SnapshotKind.EXTERNAL if volume else SnapshotKind.INTERNAL)
    _writable(user, owner.project)
    _idle(owner)
    if volume is not None:
        _check_volume_snapshot(volume, kind)
        _not_in_instance_snapshot(volume)
    else:
        _check_instance_snapshot(instance, kind)
    snapshot = Snapshot(
        project=owner.project,
        name=name,
        description=description,
        volume=volume,
        instance=instance,
        kind=kind,
        state=SnapshotState.CREATING,
        simulated=(volume.simulated if volume else instance.host.simulated),
    )
    snapshot.full_clean()
    with transaction.atomic():
        quotas.take(owner.project, snapshots=1)
        snapshot.quota_held = True
        snapshot.save()
        if volume is not None:
            Volume.objects.filter(pk=volume.pk).update(state=VolumeState.BUSY)
        op = _queue(
            f"snapshot.{Action.CREATE}",
            owner,
            user,
            tasks.create_snapshot,
            request=request,
            detail={"snapshot": snapshot.pk, "state": getattr(volume, "state", "")},
        )
    return snapshot, op


def _not_in_instance_snapshot(volume):
    """A volume frozen in an instance's external snapshot changes only through that snapshot."""
    if volume.instance_layers.exists():
        raise Conflict(
            f"Volume {volume.name} is part of external snapshots of instance {volume.instance}: its files "
            "are that snapshot's layers. Delete those instance snapshots first."
        )


def _check_instance_snapshot(instance, kind):
    if kind not in SnapshotKind.values:
        raise ActionError(f"kind is one of {', '.join(SnapshotKind.values)}.", field="kind")
    if instance.state not in ATTACHABLE_STATES:
        raise Conflict(f"Instance {instance.name} is {instance.state}.")
    other = SnapshotKind.INTERNAL if kind == SnapshotKind.EXTERNAL else SnapshotKind.EXTERNAL
    if instance.snapshots.filter(kind=other).exists():
        raise Conflict(
            f"Instance {instance.name} has {other} snapshots; Nubes does not mix internal snapshots (inside "
            "the qcow2 file) with external ones (overlay files) on one instance. Delete them first."
        )
    if kind == SnapshotKind.EXTERNAL:
        for volume in instance.volumes.all():
            _idle(volume)
            if volume.snapshots.exists():
                raise Conflict(
                    f"Volume {volume.name} of {instance.name} has its own snapshots; an instance snapshot "
                    "freezes every disk at once, so delete the volume's snapshots (or detach it) first."
                )


def _check_volume_snapshot(volume, kind):
    if kind != SnapshotKind.EXTERNAL:
        raise ActionError("Volume snapshots are external overlays; internal ones are taken of instances.", field="kind")
    if volume.state not in (VolumeState.AVAILABLE, VolumeState.IN_USE):
        raise Conflict(f"Volume {volume.name} is {volume.state}.")
    if volume.format != VolumeFormat.QCOW2 or volume.is_raw_device:
        raise ActionError("Only qcow2 volumes take snapshots.", field="volume")
    if volume.is_template:
        raise Conflict(f"Volume {volume.name} is a template; clone it instead.")


def _snapshot_guard(user, snapshot):
    owner = snapshot.owner
    _writable(user, snapshot.project)
    _idle(owner)
    if snapshot.state != SnapshotState.AVAILABLE:
        raise Conflict(f"Snapshot {snapshot.name} is {snapshot.state}.")
    if snapshot.volume_id and snapshot.volume.state not in (VolumeState.AVAILABLE, VolumeState.IN_USE):
        raise Conflict(f"Volume {snapshot.volume.name} is {snapshot.volume.state}.")
    return owner


def revert_snapshot(user, snapshot, request=None):
    owner = _snapshot_guard(user, snapshot)
    if snapshot.volume_id and instance_running(snapshot.volume.instance):
        raise Conflict("A running guest's disk cannot be swapped under it: stop the instance, then revert.")
    instance = snapshot.instance
    if instance is not None and snapshot.kind == SnapshotKind.EXTERNAL and instance.state != InstanceState.SHUTOFF:
        raise Conflict(
            f"Instance {instance.name} is {instance.state}. libvirt cannot revert external "
            "snapshots; Nubes puts fresh overlays on the chosen point for every disk, which needs the disks "
            "at rest: stop the instance, then revert."
        )
    with transaction.atomic():
        if snapshot.volume_id:
            Volume.objects.filter(pk=snapshot.volume_id).update(state=VolumeState.BUSY)
        return _queue(
            f"snapshot.{Action.REVERT}",
            owner,
            user,
            tasks.revert_snapshot,
            request=request,
            detail={"snapshot": snapshot.pk, "state": getattr(snapshot.volume, "state", "")},
        )


def delete_snapshot(user, snapshot, request=None):
    """Delete anywhere in the chain; an external one merges its file into the layer above."""

    owner = _snapshot_guard(user, snapshot)
    if snapshot.linked_clones.exists():
        raise Conflict(f"Snapshot {snapshot.name} is the base of linked clones; flatten or delete them first.")
    if snapshot.kind == SnapshotKind.EXTERNAL and snapshot.instance_id:
        _check_instance_merge(snapshot)
    elif snapshot.kind == SnapshotKind.EXTERNAL:
        try:
            chains.merge_plan(snapshot)
        except ValueError as exc:
            raise Conflict(str(exc)) from exc
    with transaction.atomic():
        Snapshot.objects.filter(pk=snapshot.pk).update(state=SnapshotState.DELETING)
        if snapshot.volume_id:
            Volume.objects.filter(pk=snapshot.volume_id).update(state=VolumeState.BUSY)
        return _queue(
            f"snapshot.{Action.MERGE}",
            owner,
            user,
            tasks.delete_snapshot,
            request=request,
            detail={"snapshot": snapshot.pk, "state": getattr(snapshot.volume, "state", "")},
        )


def _check_instance_merge(snapshot):
    """Refuse before anything is touched: branches after a revert."""

    instance = snapshot.instance
    for layer in snapshot.layers.all():
        disk = instance_chains.disk_of_layer(layer)
        kids = instance_chains.children(disk, layer, list(instance_chains.layers_of_disk(instance, layer)))
        if len(kids) > 1:
            raise Conflict(
                f"{len(kids)} layers are built on snapshot {snapshot.name}'s file of {layer.target_dev} "
                "(branches after a revert); delete the other branch's snapshots first."
            )


def snapshot_tree(snapshots):
    """Nested [{snapshot, children: [...]}] from a flat list (roots first, oldest first)."""
    nodes = {snap.pk: {"snapshot": snap, "children": []} for snap in snapshots}
    roots = []
    for snap in snapshots:
        parent = nodes.get(snap.parent_id)
        (parent["children"] if parent else roots).append(nodes[snap.pk])
    return roots


def instances_for(user, project):
    """Instances a volume of `project` may attach to."""
    return (
        Instance.objects.visible_to(user)
        .filter(project=project)
        .exclude(state__in=(InstanceState.DELETED, InstanceState.DELETING))
    )


def role(user, project):
    return Role.ADMIN if user.is_staff else project.role_of(user)
