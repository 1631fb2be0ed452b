"""The verbs of volumes: create (empty, from an image, a volume or a snapshot), map a device,
delete, attach, detach, resize, template, flatten, migrate, reclaim space."""

from django.db import transaction
from django.db.models import Q

from portal import audit, quotas
from portal.errors import ActionError, Conflict
from storage.choices import (
    LUN_POOL_TYPES,
    MAX_VOLUME_GB,
    SCSI_TARGETS,
    VIRTIO_TARGETS,
    Action,
    CloneMode,
    DeviceType,
    DiskBus,
    Provisioning,
    SnapshotKind,
    SnapshotState,
    VolumeFormat,
    VolumeSource,
    VolumeState,
)
from storage.hosts import instance_running, volume_host
from storage.models import StoragePool, Volume
from storage.services.common import (
    ATTACHABLE_STATES,
    check_idle,
    check_staff,
    check_writer,
    queue,
    volume_guard,
)
from storage.services.pools import check_capacity
from storage.tasks import volumes as tasks

ROOT_TARGETS = ("vda", "sda")


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

    check_writer(user, project)
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
        op = queue(
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
    check_staff(user)
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


def dependants(volume):
    """What keeps a volume alive: linked clones of it or of its snapshots."""
    return Volume.objects.filter(Q(backing_volume=volume) | Q(backing_snapshot__volume=volume))


def delete_volume(user, volume, *, wipe=False, request=None):
    check_writer(user, volume.project)
    if volume.instance_id:
        raise Conflict(f"Volume {volume.name} is attached to {volume.instance}; detach it first.")
    volume_guard(user, volume, VolumeState.AVAILABLE, VolumeState.ERROR)
    clones = list(dependants(volume).values_list("name", flat=True)[:5])
    if clones:
        raise Conflict(f"Volume {volume.name} has linked clones ({', '.join(clones)}); delete or flatten them first.")
    with transaction.atomic():
        Volume.objects.filter(pk=volume.pk).update(state=VolumeState.DELETING)
        return queue(
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

    volume_guard(user, volume, VolumeState.AVAILABLE)
    if instance.project_id != volume.project_id:
        raise ActionError("No such instance in the volume's project.", field="instance")
    if instance.state not in ATTACHABLE_STATES:
        raise Conflict(f"Instance {instance.name} is {instance.state}; a disk attaches to an active or stopped one.")
    if instance.host_id is None or not volume.pool.hosts.filter(pk=instance.host_id).exists():
        raise ActionError(
            f"Instance {instance.name} runs on a host that cannot see pool {volume.pool.name}.", field="instance"
        )
    check_idle(instance)
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
        return queue(
            f"volume.{Action.ATTACH}",
            volume,
            user,
            tasks.attach_volume,
            request=request,
            detail={"instance": instance.pk, "target_dev": target, "live": instance_running(instance)},
        )


def detach_volume(user, volume, request=None):
    volume_guard(user, volume, VolumeState.IN_USE)
    with transaction.atomic():
        Volume.objects.filter(pk=volume.pk).update(state=VolumeState.BUSY)
        return queue(
            f"volume.{Action.DETACH}",
            volume,
            user,
            tasks.detach_volume,
            request=request,
            detail={"instance": volume.instance_id, "target_dev": volume.target_dev},
        )


def resize_volume(user, volume, size_gb, request=None):
    volume_guard(user, volume, VolumeState.AVAILABLE, VolumeState.IN_USE)
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
        return queue(
            f"volume.{Action.RESIZE}",
            volume,
            user,
            tasks.resize_volume,
            request=request,
            detail={"size_gb": size_gb, "from_gb": volume.size_gb, "state": previous},
        )


def set_template(user, volume, is_template, request=None):
    volume_guard(user, volume)
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
    volume_guard(user, volume, VolumeState.AVAILABLE, VolumeState.IN_USE)
    if not volume.is_linked_clone:
        raise Conflict(f"Volume {volume.name} is not a linked clone.")
    if volume.snapshots.exists():
        raise Conflict(f"Volume {volume.name} has snapshots; delete them before flattening.")
    with transaction.atomic():
        previous = volume.state
        Volume.objects.filter(pk=volume.pk).update(state=VolumeState.BUSY)
        return queue(
            f"volume.{Action.FLATTEN}", volume, user, tasks.flatten_volume, request=request, detail={"state": previous}
        )


def migrate_volume(user, volume, pool, request=None):
    """Move a volume to another pool: blockCopy + pivot when its instance runs, else a copy; a
    chain of external snapshots moves whole (storage.tasks.chain_move)."""

    volume_guard(user, volume, VolumeState.AVAILABLE, VolumeState.IN_USE)
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
        return queue(
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
    volume_guard(user, volume, VolumeState.IN_USE)
    if not instance_running(volume.instance):
        raise Conflict("Space is reclaimed by fstrim inside the running guest; start the instance first.")
    if volume.discard != "unmap":
        raise Conflict(f"Volume {volume.name} ignores discards; reattach it with discard=unmap.")
    with transaction.atomic():
        return queue(f"volume.{Action.RECLAIM}", volume, user, tasks.reclaim_space, request=request)
