"""Celery tasks of storage: primary keys in, reload, call the gateway, record the outcome.

Each runs inside portal.tasks.run_operation, which marks the Operation running, records
failures (typed gateway errors, ActionError) and success. A failure after the database said
"busy" puts the row back the way it was, so a failed job leaves the volume usable."""

import time

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone

import hypervisor as hv
from compute.models import Instance
from portal import operations, quotas
from portal.errors import ActionError
from portal.tasks import LONG_JOB, Cancelled, check_cancel, run_operation
from storage import chains
from storage.choices import (
    BYTES_PER_GIB,
    LUN_POOL_TYPES,
    Action,
    DeviceType,
    PoolState,
    PoolType,
    Provisioning,
    SnapshotKind,
    SnapshotState,
    SourceFormat,
    VolumeSource,
    VolumeState,
    blockjob_poll_s,
)
from storage.hosts import instance_running, manager_host, volume_host
from storage.models import Snapshot, StoragePool, Volume
from storage.tasks import chain_move
from storage.tasks import chains as chain_tasks
from storage.tasks import instance_snapshots as instance_snapshot_tasks

JOB_SHARE = 90  # percent of an operation's bar a block job fills


def _pool_spec(pool, host):
    netfs = pool.type == PoolType.NETFS
    return hv.PoolSpec(
        name=pool.libvirt_name,
        type=pool.type,
        target_path=pool.target_path or None,
        source_host=pool.source_host or None,
        source_dir=pool.source_dir or None,
        source_name=pool.source_name or None,
        source_devices=(pool.source_device,) if pool.source_device else (),
        source_format=(pool.source_format or SourceFormat.NFS) if netfs else None,
        # Each host logs in to the target under a name of its own (an iSCSI initiator IQN).
        initiator_iqn=initiator_iqn(host) if pool.type == PoolType.ISCSI_DIRECT else None,
    )


def initiator_iqn(host):
    return f"{settings.NUBES_ISCSI_INITIATOR_PREFIX}:{host.name.lower()}"


def _record_pool(pool, info, state=PoolState.ACTIVE):
    StoragePool.objects.filter(pk=pool.pk).update(
        state=state if info.active else PoolState.INACTIVE,
        state_reason="",
        capacity_bytes=info.capacity_bytes,
        allocation_bytes=info.allocation_bytes,
        available_bytes=info.available_bytes,
        refreshed=timezone.now(),
    )


@shared_task(bind=True, name="storage.tasks.pool_action")
def pool_action(self, op_id):
    def work(op):
        pool = StoragePool.objects.get(pk=op.target_id)
        action, hosts, info = op.detail["step"], list(pool.hosts.order_by("name")), None
        for index, host in enumerate(hosts, start=1):
            info = _pool_step(pool, host, action)
            operations.progress(op, 100 * index // len(hosts), f"{action} on {host.name}")
        if action == Action.DELETE:
            pool.delete()
            return f"Pool {pool.name} deleted"
        if action == Action.STOP:
            StoragePool.objects.filter(pk=pool.pk).update(state=PoolState.INACTIVE)
        elif info is not None:
            _record_pool(pool, info)
        return f"Pool {pool.name}: {action} on {len(hosts)} host(s)"

    return run_operation(op_id, work, self.request.id or "")


def _pool_step(pool, host, action):
    name = pool.libvirt_name
    if action == Action.DEFINE:
        try:
            info = hv.pool_info(host.uri, name)  # already there (e.g. a host's default pool): adopt it
        except hv.PoolNotFound:
            info = hv.pool_define(host.uri, _pool_spec(pool, host))
        return info if info.active else hv.pool_start(host.uri, name, build=not host.simulated)
    if action == Action.START:
        return hv.pool_start(host.uri, name)
    if action == Action.REFRESH:
        return hv.pool_refresh(host.uri, name)
    if action == Action.STOP:
        hv.pool_stop(host.uri, name)
        return None
    hv.pool_delete(host.uri, name)
    return None


# --- volumes -------------------------------------------------------------------------------


def _fail_back(volume_id, state, reason=""):
    Volume.objects.filter(pk=volume_id).update(state=state, state_reason=str(reason)[:500])


def _guarded(op, volume, restore_state, work):
    """Run work(); on an expected failure put the volume back in `restore_state`, then re-raise."""
    try:
        return work()
    except (hv.HypervisorError, ActionError) as exc:
        _fail_back(volume.pk, restore_state, exc)
        raise


def _record_layer(volume, info):
    volume.libvirt_name, volume.path = info.name, info.path
    volume.backing_path = info.backing_path or ""
    volume.allocation_bytes = info.allocation_bytes


@shared_task(bind=True, name="storage.tasks.create_volume")
def create_volume(self, op_id):
    def work(op):
        volume = Volume.objects.select_related("pool").get(pk=op.target_id)
        try:
            info = _create_file(op, volume)
        except (hv.HypervisorError, ActionError) as exc:
            with transaction.atomic():
                if Volume.objects.filter(pk=volume.pk, quota_held=True).update(quota_held=False):
                    quotas.give_back(volume.project, volumes=1, disk_gb=volume.size_gb)
                _fail_back(volume.pk, VolumeState.ERROR, exc)
            raise
        _record_layer(volume, info)
        volume.state = VolumeState.AVAILABLE
        volume.save(update_fields=["libvirt_name", "path", "backing_path", "allocation_bytes", "state"])
        return f"Volume {volume.name} created ({info.capacity_bytes // BYTES_PER_GIB} GiB)"

    return run_operation(op_id, work, self.request.id or "")


def _create_file(op, volume):
    host, pool, detail = manager_host(volume.pool), volume.pool.libvirt_name, op.detail
    capacity = volume.size_gb * BYTES_PER_GIB
    thick = capacity if volume.provisioning == Provisioning.THICK else None
    operations.progress(op, 10, f"Creating on {host.name}")
    if volume.backing_volume_id or volume.backing_snapshot_id:
        base = volume.backing_volume.path if volume.backing_volume_id else volume.backing_snapshot.layer_path
        return hv.volume_create(
            host.uri, pool, volume.libvirt_name, capacity, "qcow2", backing_path=base, backing_format="qcow2"
        )
    if volume.source == VolumeSource.IMAGE:
        image = volume.source_image
        if detail.get("clone_mode") == "linked":
            base = hv.volume_info(host.uri, image.pool, image.volume)
            return hv.volume_create(
                host.uri,
                pool,
                volume.libvirt_name,
                capacity,
                "qcow2",
                backing_path=base.path,
                backing_format=image.format,
            )
        return hv.volume_copy(
            host.uri,
            image.pool,
            image.volume,
            pool,
            volume.libvirt_name,
            fmt=volume.format,
            capacity_bytes=capacity,
            allocation_bytes=thick,
        )
    if volume.source == VolumeSource.VOLUME:
        source = Volume.objects.get(pk=detail["source_volume"])
        return hv.volume_copy(
            host.uri,
            source.pool.libvirt_name,
            source.libvirt_name,
            pool,
            volume.libvirt_name,
            fmt=volume.format,
            capacity_bytes=capacity,
            allocation_bytes=thick,
        )
    return hv.volume_create(host.uri, pool, volume.libvirt_name, capacity, volume.format, allocation_bytes=thick)


@shared_task(bind=True, name="storage.tasks.delete_volume")
def delete_volume(self, op_id):
    def work(op):
        volume = Volume.objects.select_related("pool").get(pk=op.target_id)
        if not volume.is_raw_device and volume.path:
            # A failed delete leaves the volume in error, so it can be deleted again.
            _guarded(op, volume, VolumeState.ERROR, lambda: _delete_files(volume, op.detail.get("wipe", False)))
        with transaction.atomic():
            taken = Snapshot.objects.filter(volume=volume, quota_held=True).count()
            quotas.give_back(volume.project, snapshots=taken)
            if volume.quota_held:
                quotas.give_back(volume.project, volumes=1, disk_gb=0 if volume.is_raw_device else volume.size_gb)
            volume.delete()
        return f"Volume {volume.name} deleted"

    return run_operation(op_id, work, self.request.id or "")


def _delete_files(volume, wipe):
    host = manager_host(volume.pool)
    for name in [volume.libvirt_name] + [s.libvirt_name for s in chains.external_snapshots(volume)]:
        try:
            hv.volume_delete(host.uri, volume.pool.libvirt_name, name, wipe=wipe)
        except hv.VolumeNotFound:
            continue  # already gone (a retried delete): nothing left to remove


def disk_spec(volume, target_dev):
    common = {
        "target_dev": target_dev,
        "bus": volume.bus,
        "cache": volume.cache,
        "discard_unmap": volume.discard == "unmap",
        "readonly": volume.readonly,
        "shareable": volume.shareable,
        "serial": f"nubes-{volume.pk}",
    }
    if not volume.is_raw_device:
        return hv.DiskSpec(path=volume.path, format=volume.format, **common)
    raw = {"device": volume.device_type, "format": "raw"}
    if volume.pool.type not in LUN_POOL_TYPES:
        return hv.DiskSpec(type="block", path=volume.device_path, **raw, **common)
    # A LUN of an iSCSI pool: libvirt hands QEMU the target and LUN (its own initiator); a LUN
    # passed through as SCSI answers with the array's own serial.
    if volume.device_type == DeviceType.LUN:
        common["serial"] = None
    return hv.DiskSpec(type="volume", pool=volume.pool.libvirt_name, volume=volume.device_path, **raw, **common)


@shared_task(bind=True, name="storage.tasks.attach_volume")
def attach_volume(self, op_id):
    def work(op):
        volume = Volume.objects.get(pk=op.target_id)
        instance = Instance.objects.select_related("host").get(pk=op.detail["instance"])
        target = op.detail["target_dev"]
        change = _guarded(
            op,
            volume,
            VolumeState.AVAILABLE,
            lambda: hv.disk_attach(
                instance.host.uri, str(instance.uuid), disk_spec(volume, target), live=instance_running(instance)
            ),
        )
        Volume.objects.filter(pk=volume.pk).update(
            state=VolumeState.IN_USE, instance=instance, target_dev=target, state_reason=""
        )
        how = "simulated" if change.simulated else ("live" if change.live else "cold")
        return f"Attached to {instance.name} as {target} ({how})"

    return run_operation(op_id, work, self.request.id or "")


@shared_task(bind=True, name="storage.tasks.detach_volume")
def detach_volume(self, op_id):
    def work(op):
        volume = Volume.objects.select_related("instance__host").get(pk=op.target_id)
        instance = volume.instance
        try:
            change = _guarded(
                op,
                volume,
                VolumeState.IN_USE,
                lambda: hv.disk_detach(
                    instance.host.uri, str(instance.uuid), volume.target_dev, live=instance_running(instance)
                ),
            )
        except hv.DomainNotFound:
            change = None  # the domain is gone: the attachment is only a row now
        Volume.objects.filter(pk=volume.pk).update(
            state=VolumeState.AVAILABLE, instance=None, target_dev="", state_reason=""
        )
        how = (
            "domain gone"
            if change is None
            else ("simulated" if change.simulated else ("live" if change.live else "cold"))
        )
        return f"Detached from {instance.name} ({how})"

    return run_operation(op_id, work, self.request.id or "")


@shared_task(bind=True, name="storage.tasks.resize_volume")
def resize_volume(self, op_id):
    def work(op):
        volume = Volume.objects.select_related("pool", "instance__host").get(pk=op.target_id)
        size_gb, previous = op.detail["size_gb"], op.detail["state"]
        capacity = size_gb * BYTES_PER_GIB

        def grow():
            if instance_running(volume.instance):
                return hv.disk_resize(volume.instance.host.uri, str(volume.instance.uuid), volume.target_dev, capacity)
            return hv.volume_resize(
                manager_host(volume.pool).uri, volume.pool.libvirt_name, volume.libvirt_name, capacity
            )

        try:
            _guarded(op, volume, previous, grow)
        except (hv.HypervisorError, ActionError):
            quotas.give_back(volume.project, disk_gb=size_gb - op.detail["from_gb"])
            raise
        Volume.objects.filter(pk=volume.pk).update(size_gb=size_gb, state=previous, state_reason="")
        return f"Grown to {size_gb} GiB"

    return run_operation(op_id, work, self.request.id or "")


def run_block_job(op, uri, uuid, target_dev, *, pivot=False, start=0):
    """Follow a started block job to its end, with progress; pivot a ready mirror when asked.
    A cancel request, or the task's soft time limit, aborts the job: the disk keeps its old file."""
    try:
        while True:
            job = hv.block_job(uri, uuid, target_dev)
            if job is None:
                return
            operations.progress(
                op,
                start + job.percent * (JOB_SHARE - start) // 100,
                f"{job.kind}: {job.cur // (1 << 20)} of {job.end // (1 << 20)} MiB"
                + (" (simulated)" if job.simulated else ""),
            )
            if job.ready:
                hv.block_job_abort(uri, uuid, target_dev, pivot=pivot)
                return
            check_cancel(op)
            time.sleep(blockjob_poll_s())
    except (Cancelled, SoftTimeLimitExceeded):
        # libvirt would go on copying after the Operation ends and the disk is unlocked
        hv.block_job_abort(uri, uuid, target_dev)
        raise


@shared_task(bind=True, **LONG_JOB, name="storage.tasks.flatten_volume")
def flatten_volume(self, op_id):
    """Pull the template's data into the clone so it stands alone (blockPull when running)."""

    def work(op):
        volume = Volume.objects.select_related("pool", "instance__host").get(pk=op.target_id)
        host, previous = volume_host(volume), op.detail["state"]

        def flatten():
            running = instance_running(volume.instance)
            if running:
                hv.block_pull(host.uri, str(volume.instance.uuid), volume.target_dev)
                run_block_job(op, host.uri, str(volume.instance.uuid), volume.target_dev)
            return hv.volume_rebase(host.uri, volume.pool.libvirt_name, volume.libvirt_name, None, done_by_job=running)

        info = _guarded(op, volume, previous, flatten)
        Volume.objects.filter(pk=volume.pk).update(
            backing_volume=None,
            backing_snapshot=None,
            backing_path="",
            allocation_bytes=info.allocation_bytes,
            state=previous,
        )
        return f"Volume {volume.name} no longer depends on its template"

    return run_operation(op_id, work, self.request.id or "")


@shared_task(bind=True, **LONG_JOB, name="storage.tasks.migrate_volume")
def migrate_volume(self, op_id):
    """Live: blockCopy into the new pool, follow it, pivot. Detached: copy, then delete. A chain
    of snapshots moves whole (storage.chain_move)."""

    def work(op):
        volume = Volume.objects.select_related("pool", "instance__host").get(pk=op.target_id)
        target = StoragePool.objects.get(pk=op.detail["pool"])
        host, previous = volume_host(volume), op.detail["state"]
        if chains.external_snapshots(volume).exists():
            try:
                message = _guarded(
                    op, volume, previous, lambda: chain_move.move_chain(op, volume, target, host, run_block_job)
                )
            except Cancelled:
                _fail_back(volume.pk, previous, "Move cancelled; the chain stays in its pool")
                raise
            Volume.objects.filter(pk=volume.pk).update(state=previous)
            return message
        name = chains.next_layer_name(volume)
        try:
            info = _guarded(op, volume, previous, lambda: _move(op, volume, target, host, name))
        except Cancelled:
            _fail_back(volume.pk, previous, "Move cancelled; the disk stays in its pool")
            raise
        old_pool, old_name = volume.pool.libvirt_name, volume.libvirt_name
        Volume.objects.filter(pk=volume.pk).update(
            pool=target,
            libvirt_name=info.name,
            path=info.path,
            layer_seq=volume.layer_seq,
            state=previous,
            state_reason="",
        )
        hv.volume_delete(host.uri, old_pool, old_name)
        return f"Moved to pool {target.name}" + (" (simulated block copy)" if host.simulated else "")

    return run_operation(op_id, work, self.request.id or "")


def _move(op, volume, target, host, name):
    pool = target.libvirt_name
    if instance_running(volume.instance):
        uuid = str(volume.instance.uuid)
        # The destination file is made by us (right size, in the pool); QEMU then mirrors into it.
        dest = hv.volume_create(host.uri, pool, name, volume.size_gb * BYTES_PER_GIB, volume.format)
        try:
            hv.block_copy(host.uri, uuid, volume.target_dev, dest.path, fmt=volume.format)
            run_block_job(op, host.uri, uuid, volume.target_dev, pivot=True)
        except (hv.HypervisorError, Cancelled):
            hv.volume_delete(host.uri, pool, name)  # the half copy; the disk still runs from its old file
            raise
        hv.pool_refresh(host.uri, pool)  # QEMU wrote the file: let libvirt see its allocation
        return hv.volume_info(host.uri, pool, name)
    info = hv.volume_copy(host.uri, volume.pool.libvirt_name, volume.libvirt_name, pool, name, fmt=volume.format)
    if volume.instance_id:
        hv.disk_set_source(host.uri, str(volume.instance.uuid), volume.target_dev, info.path)
    return info


@shared_task(bind=True, name="storage.tasks.reclaim_space")
def reclaim_space(self, op_id):
    def work(op):
        volume = Volume.objects.select_related("pool", "instance__host").get(pk=op.target_id)
        host = volume.instance.host
        before = hv.volume_info(host.uri, volume.pool.libvirt_name, volume.libvirt_name).allocation_bytes
        try:
            hv.domain_fstrim(host.uri, str(volume.instance.uuid))
        except hv.GuestAgentUnavailable as exc:
            raise ActionError(
                f"No space reclaimed: {exc}. fstrim runs through the QEMU guest agent; install and start "
                "qemu-guest-agent in the guest (the disk already passes discards on with discard=unmap, so "
                "'fstrim -a' run inside the guest frees the space too)."
            ) from exc
        after = hv.volume_info(host.uri, volume.pool.libvirt_name, volume.libvirt_name).allocation_bytes
        Volume.objects.filter(pk=volume.pk).update(allocation_bytes=after)
        operations.succeed(
            op,
            f"Allocation {before // (1 << 20)} MiB -> {after // (1 << 20)} MiB",
            allocation_before=before,
            allocation_after=after,
        )
        return None

    return run_operation(op_id, work, self.request.id or "")


# --- snapshots -----------------------------------------------------------------------------


def _snapshot_work(op, body):
    """Shared frame: reload, run body(snapshot), put the volume back on any failure."""
    snapshot = Snapshot.objects.select_related("volume__pool", "volume__instance__host", "instance__host").get(
        pk=op.detail["snapshot"]
    )
    previous = op.detail.get("state") or VolumeState.AVAILABLE
    try:
        message = body(snapshot)
    except (hv.HypervisorError, ActionError) as exc:
        if snapshot.volume_id:
            _fail_back(snapshot.volume_id, previous, exc)
        Snapshot.objects.filter(pk=snapshot.pk, state=SnapshotState.DELETING).update(state=SnapshotState.AVAILABLE)
        raise
    if snapshot.volume_id:
        Volume.objects.filter(pk=snapshot.volume_id).update(state=previous, state_reason="")
    return message


@shared_task(bind=True, **LONG_JOB, name="storage.tasks.create_snapshot")
def create_snapshot(self, op_id):
    def work(op):
        try:
            return _snapshot_work(op, _create_internal_or_external)
        except (hv.HypervisorError, ActionError):
            with transaction.atomic():
                snapshot = Snapshot.objects.get(pk=op.detail["snapshot"])
                if snapshot.quota_held:
                    quotas.give_back(snapshot.project, snapshots=1)
                snapshot.delete()
            raise

    return run_operation(op_id, work, self.request.id or "")


def _create_internal_or_external(snapshot):
    if snapshot.kind == SnapshotKind.INTERNAL:
        return _create_internal(snapshot)
    if snapshot.instance_id:
        return instance_snapshot_tasks.create(snapshot)
    return _create_external(snapshot)


def _create_internal(snapshot):
    instance = snapshot.instance
    name = f"nubes-snap-{snapshot.pk}"
    running = instance_running(instance)
    hv.snapshot_create(instance.host.uri, str(instance.uuid), name, snapshot.description or None, with_memory=running)
    with transaction.atomic():
        parent = Snapshot.objects.filter(instance=instance, current=True).exclude(pk=snapshot.pk).first()
        Snapshot.objects.filter(instance=instance, current=True).update(current=False)
        Snapshot.objects.filter(pk=snapshot.pk).update(
            libvirt_name=name, parent=parent, current=True, with_memory=running, state=SnapshotState.AVAILABLE
        )
    return f"Snapshot {snapshot.name} of {instance.name}" + (" with memory" if running else "")


def _create_external(snapshot):
    """Freeze the volume's active file; a new overlay on top of it becomes active."""
    volume = Volume.objects.select_related("pool", "instance__host").get(pk=snapshot.volume_id)
    host, pool = volume_host(volume), volume.pool.libvirt_name
    name = chains.next_layer_name(volume)
    instance = volume.instance
    if instance_running(instance) and not host.simulated:
        path = hv.pool_volume_path(host.uri, pool, name)
        hv.disk_snapshot_external(host.uri, str(instance.uuid), volume.target_dev, path)
        hv.pool_refresh(host.uri, pool)
        info = hv.volume_info(host.uri, pool, name)
    else:
        info = hv.volume_create(
            host.uri,
            pool,
            name,
            volume.size_gb * BYTES_PER_GIB,
            "qcow2",
            backing_path=volume.path,
            backing_format=volume.format,
        )
        if instance is not None:
            try:
                hv.disk_set_source(host.uri, str(instance.uuid), volume.target_dev, info.path)
            except hv.HypervisorError:
                hv.volume_delete(host.uri, pool, name)  # the disk still uses the old file: no orphan overlay
                raise
    with transaction.atomic():
        Snapshot.objects.filter(pk=snapshot.pk).update(
            libvirt_name=volume.libvirt_name,
            layer_path=volume.path,
            layer_backing=volume.backing_path,
            overlay_path=info.path,
            size_bytes=volume.allocation_bytes,
            state=SnapshotState.AVAILABLE,
        )
        Volume.objects.filter(pk=volume.pk).update(
            libvirt_name=info.name,
            path=info.path,
            backing_path=volume.path,
            layer_seq=volume.layer_seq,
            allocation_bytes=info.allocation_bytes,
        )
        chains.relink(Volume.objects.get(pk=volume.pk))
    return f"Snapshot {snapshot.name}: {volume.name} now writes to a new overlay"


@shared_task(bind=True, **LONG_JOB, name="storage.tasks.revert_snapshot")
def revert_snapshot(self, op_id):
    def work(op):
        return _snapshot_work(op, _revert)

    return run_operation(op_id, work, self.request.id or "")


def _revert(snapshot):
    if snapshot.kind == SnapshotKind.INTERNAL:
        instance = snapshot.instance
        hv.snapshot_revert(instance.host.uri, str(instance.uuid), snapshot.libvirt_name)
        with transaction.atomic():
            Snapshot.objects.filter(instance=instance, current=True).update(current=False)
            Snapshot.objects.filter(pk=snapshot.pk).update(current=True)
        return f"{instance.name} reverted to {snapshot.name}"
    if snapshot.instance_id:
        return instance_snapshot_tasks.revert(snapshot)
    # External: libvirt 9.0 cannot revert these, so a fresh overlay goes on the chosen point
    # and the abandoned active file (nothing is built on an active file) is removed.
    volume = Volume.objects.select_related("pool", "instance__host").get(pk=snapshot.volume_id)
    host, pool = volume_host(volume), volume.pool.libvirt_name
    name = chains.next_layer_name(volume)
    info = hv.volume_create(
        host.uri,
        pool,
        name,
        volume.size_gb * BYTES_PER_GIB,
        "qcow2",
        backing_path=snapshot.layer_path,
        backing_format="qcow2",
    )
    if volume.instance_id:
        try:
            hv.disk_set_source(host.uri, str(volume.instance.uuid), volume.target_dev, info.path)
        except hv.HypervisorError:
            hv.volume_delete(host.uri, pool, name)
            raise
    hv.volume_delete(host.uri, pool, volume.libvirt_name)
    with transaction.atomic():
        Volume.objects.filter(pk=volume.pk).update(
            libvirt_name=info.name, path=info.path, backing_path=snapshot.layer_path, layer_seq=volume.layer_seq
        )
        chains.relink(Volume.objects.get(pk=volume.pk))
    return f"{volume.name} reverted to {snapshot.name} (new overlay)"


@shared_task(bind=True, **LONG_JOB, name="storage.tasks.delete_snapshot")
def delete_snapshot(self, op_id):
    def work(op):
        return _snapshot_work(op, lambda snapshot: _delete(op, snapshot))

    return run_operation(op_id, work, self.request.id or "")


def _delete(op, snapshot):
    if snapshot.kind == SnapshotKind.INTERNAL:
        instance = snapshot.instance
        hv.snapshot_delete(instance.host.uri, str(instance.uuid), snapshot.libvirt_name)
        with transaction.atomic():
            # libvirt hands the children to the parent, and "current" to the parent too.
            Snapshot.objects.filter(parent=snapshot).update(parent=snapshot.parent)
            if snapshot.current and snapshot.parent_id:
                Snapshot.objects.filter(pk=snapshot.parent_id).update(current=True)
            chain_tasks.forget(snapshot)
        return f"Snapshot {snapshot.name} deleted"
    if snapshot.instance_id:
        return instance_snapshot_tasks.merge(op, snapshot, run_block_job)
    return chain_tasks.merge(op, snapshot, run_block_job)
