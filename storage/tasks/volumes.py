"""Celery tasks of storage's volumes: primary keys in, reload, call the gateway, record the outcome.
Pools are in `pools.py`, snapshots of a volume or an instance in `snapshots.py`.

Each runs inside portal.tasks.run_operation, which marks the Operation running, records
failures (typed gateway errors, ActionError) and success. A failure after the database said
"busy" puts the row back the way it was, so a failed job leaves the volume usable."""

import time

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import transaction

import hypervisor as hv
from compute.models import Instance
from portal import operations, quotas
from portal.errors import ActionError
from portal.models import Operation
from portal.tasks import LONG_JOB, Cancelled, check_cancel, run_operation
from storage import chains
from storage.choices import (
    BYTES_PER_GIB,
    LUN_POOL_TYPES,
    DeviceType,
    Provisioning,
    VolumeSource,
    VolumeState,
    blockjob_poll_s,
)
from storage.hosts import instance_running, manager_host, volume_host
from storage.models import Snapshot, StoragePool, Volume
from storage.tasks import chain_move

JOB_SHARE = 90  # percent of an operation's bar a block job fills
NEW_LAYER = "new_layer"  # a move's Operation detail key naming the copy it makes in the target pool


# --- volumes -------------------------------------------------------------------------------


def fail_back(volume_id, state, reason=""):
    Volume.objects.filter(pk=volume_id).update(state=state, state_reason=str(reason)[:500])


def _guarded(op, volume, restore_state, work):
    """Run work(); on an expected failure put the volume back in `restore_state`, then re-raise."""
    try:
        return work()
    except (hv.HypervisorError, ActionError) as exc:
        fail_back(volume.pk, restore_state, exc)
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
                fail_back(volume.pk, VolumeState.ERROR, exc)
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
                fail_back(volume.pk, previous, "Move cancelled; the chain stays in its pool")
                raise
            Volume.objects.filter(pk=volume.pk).update(state=previous)
            return message
        name = chains.next_layer_name(volume)
        # noted first: if this worker dies mid-copy, the reaper's settle hook removes the copy
        Operation.objects.filter(pk=op.pk).update(detail={**op.detail, NEW_LAYER: name})
        try:
            info = _guarded(op, volume, previous, lambda: _move(op, volume, target, host, name))
        except Cancelled:
            fail_back(volume.pk, previous, "Move cancelled; the disk stays in its pool")
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


def settle_lost_move(op):
    """The reaper's settle hook (portal.leases) for a volume move whose worker is gone: stop a
    live move's block copy (the disk keeps its old file), remove the copy in the target pool if it
    never took the volume's place, and give the volume back its state from before the move.
    Raises when the host does not answer (or libvirt is still writing the copy): next round."""
    volume = Volume.objects.select_related("pool", "instance").filter(pk=op.target_id).first()
    if volume is None or volume.state != VolumeState.BUSY:
        return ""
    host = volume_host(volume)
    hv.host_ping(host.uri)
    if (
        op.detail.get("live")
        and volume.instance_id
        and hv.block_job(host.uri, str(volume.instance.uuid), volume.target_dev)
    ):
        hv.block_job_abort(host.uri, str(volume.instance.uuid), volume.target_dev)
    target = StoragePool.objects.filter(pk=op.detail.get("pool")).first()
    name = op.detail.get(NEW_LAYER)
    note = f"Volume {volume.name} stays in pool {volume.pool.name}."
    if name and target is not None and volume.libvirt_name != name:
        try:
            hv.volume_delete(host.uri, target.libvirt_name, name)
        except hv.VolumeNotFound:
            pass
        note += " The partial copy was removed."
    elif name is None:
        note += " A snapshot chain's copies in the target pool may remain."
    Volume.objects.filter(pk=volume.pk, state=VolumeState.BUSY).update(
        state=op.detail.get("state", VolumeState.AVAILABLE), state_reason=""
    )
    return note


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
