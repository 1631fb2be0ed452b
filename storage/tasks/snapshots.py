"""Celery tasks of snapshots: internal (libvirt's, with memory when the guest runs) and external
(a chain of overlays). An instance's external snapshots are in `instance_snapshots.py`, merges
of a volume's chain in `chains.py`."""

from celery import shared_task
from django.db import transaction

import hypervisor as hv
from portal import quotas
from portal.errors import ActionError
from portal.tasks import LONG_JOB, run_operation
from storage import chains
from storage.choices import BYTES_PER_GIB, SnapshotKind, SnapshotState, VolumeState
from storage.hosts import instance_running, volume_host
from storage.models import Snapshot, Volume
from storage.tasks import chains as chain_tasks
from storage.tasks import instance_snapshots as instance_snapshot_tasks
from storage.tasks.volumes import fail_back, run_block_job


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
            fail_back(snapshot.volume_id, previous, exc)
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
        info = _overlay(volume, host, pool, name, volume.path, volume.format)
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


def _overlay(volume, host, pool, name, backing_path, backing_format):
    """A new qcow2 overlay `name` of the volume's size on backing_path; an attached volume's disk
    is switched to it (if that fails the overlay is removed: the disk still uses the old file)."""
    info = hv.volume_create(
        host.uri,
        pool,
        name,
        volume.size_gb * BYTES_PER_GIB,
        "qcow2",
        backing_path=backing_path,
        backing_format=backing_format,
    )
    if volume.instance_id:
        try:
            hv.disk_set_source(host.uri, str(volume.instance.uuid), volume.target_dev, info.path)
        except hv.HypervisorError:
            hv.volume_delete(host.uri, pool, name)  # no orphan overlay
            raise
    return info


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
    info = _overlay(volume, host, pool, name, snapshot.layer_path, "qcow2")
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
