"""Moving a volume's whole chain of external layers to another pool, its snapshots kept.

Stopped or detached: every layer is copied bottom up (hypervisor.image_copy_layer: a sparse
copy, then an unsafe rebase onto the copy of its backing file), and the disk follows.
Running (live storage migration as oVirt does it): only the active layer is written, so the
frozen layers are copied the same way first; then a fresh qcow2 backed by the copy of the
active layer's backing file takes a shallow blockCopy of the active layer, and the guest
pivots onto it. A failure or a cancel aborts the mirror and removes every copy: the domain
and the database still name the old chain. Test hosts make the files (with their backing
paths) but hold no data to copy."""

from django.db import transaction

import hypervisor as hv
from portal import operations
from portal.errors import ActionError
from portal.tasks import Cancelled, check_cancel
from storage.choices import BYTES_PER_GIB, SnapshotKind
from storage.hosts import instance_running
from storage.models import Snapshot, Volume

JOB_SHARE = 90  # percent of the bar the copying fills
FROZEN_SHARE = 40  # live: the frozen layers' part of it; the mirror fills the rest
QCOW2 = "qcow2"  # every layer of a chain (only qcow2 volumes take snapshots)


def layers_bottom_up(volume):
    """(libvirt name, path, backing path) of every file of the volume, each after its backing."""
    layers = [
        (snap.libvirt_name, snap.layer_path, snap.layer_backing)
        for snap in Snapshot.objects.filter(volume=volume, kind=SnapshotKind.EXTERNAL)
    ]
    layers.append((volume.libvirt_name, volume.path, volume.backing_path))
    ordered = []
    while layers:
        ready = [layer for layer in layers if layer[2] not in {other[1] for other in layers}]
        if not ready:
            raise ActionError(f"The chain of {volume.name} loops; it is not moved.")
        for layer in ready:
            ordered.append(layer)
            layers.remove(layer)
    return ordered


def move_chain(op, volume, target, host, run_block_job):
    """Copy the chain into ``target`` (live: frozen layers, then a shallow mirror of the active
    one), switch the records, remove the old files. Returns the Operation's message."""
    pool, old_pool = target.libvirt_name, volume.pool.libvirt_name
    layers = layers_bottom_up(volume)
    live = instance_running(volume.instance)
    new_path, made = {}, []
    try:
        if live:
            frozen = [layer for layer in layers if layer[1] != volume.path]
            _copy_layers(op, volume, host, pool, frozen, new_path, made, FROZEN_SHARE)
            _mirror_active(op, volume, host, pool, new_path, made, run_block_job)
        else:
            _copy_layers(op, volume, host, pool, layers, new_path, made, JOB_SHARE)
            if volume.instance_id:
                hv.disk_set_source(host.uri, str(volume.instance.uuid), volume.target_dev, new_path[volume.path])
    except (hv.HypervisorError, Cancelled):
        for name in reversed(made):
            hv.volume_delete(host.uri, pool, name)
        raise
    _record(volume, target, new_path)  # first: the guest already runs on the copies
    if not host.simulated:
        hv.pool_refresh(host.uri, pool)
    for name, _path, _backing in reversed(layers):
        hv.volume_delete(host.uri, old_pool, name)
    how = " (frozen layers copied, shallow blockCopy of the active one, pivot)" if live else ""
    return f"Moved {len(layers)} layers to pool {target.name}{how}" + (" (simulated)" if host.simulated else "")


def _copy_layers(op, volume, host, pool, layers, new_path, made, share):
    """Copy each layer after the copy of its backing file, pointing it at that copy."""
    for index, (name, path, backing) in enumerate(layers, start=1):
        new_backing = new_path.get(backing, backing) or None
        dest = hv.volume_create(
            host.uri,
            pool,
            name,
            volume.size_gb * BYTES_PER_GIB,
            QCOW2,
            backing_path=new_backing,
            backing_format=QCOW2 if new_backing else None,
        )
        made.append(name)
        if not host.simulated:
            hv.image_copy_layer(host.uri, path, dest.path, new_backing)
        new_path[path] = dest.path
        operations.progress(op, share * index // len(layers), f"Copied layer {index} of {len(layers)}")
        check_cancel(op)


def _mirror_active(op, volume, host, pool, new_path, made, run_block_job):
    """A qcow2 on the copied chain takes the running layer's data; the guest pivots onto it."""
    backing = new_path.get(volume.backing_path, volume.backing_path) or None
    dest = hv.volume_create(
        host.uri,
        pool,
        volume.libvirt_name,
        volume.size_gb * BYTES_PER_GIB,
        QCOW2,
        backing_path=backing,
        backing_format=QCOW2 if backing else None,
    )
    made.append(volume.libvirt_name)
    uuid, dev = str(volume.instance.uuid), volume.target_dev
    hv.block_copy(host.uri, uuid, dev, dest.path, shallow=True)
    try:
        run_block_job(op, host.uri, uuid, dev, pivot=True, start=FROZEN_SHARE)
    except hv.HypervisorError:
        _abort(host, uuid, dev)
        raise
    # A mirror QEMU gave up on vanishes like a finished one: only the disk's source tells.
    if _live_source(host, uuid, dev) != dest.path:
        _abort(host, uuid, dev)
        raise hv.OperationFailed(
            f"the mirror of {dev} ended without a pivot; the disk stays on its old chain", uri=host.uri
        )
    new_path[volume.path] = dest.path


def _abort(host, uuid, dev):
    try:
        hv.block_job_abort(host.uri, uuid, dev)
    except hv.OperationFailed:
        pass  # no job left to abort


def _live_source(host, uuid, dev):
    # A test host's modelled pivot rewrites the persistent definition only.
    disks = hv.parse_domain_xml(hv.domain_xml(host.uri, uuid, inactive=host.simulated)).disks
    return next((disk.source for disk in disks if disk.target_dev == dev), None)


def _record(volume, target, new_path):
    with transaction.atomic():
        for snap in Snapshot.objects.filter(volume=volume, kind=SnapshotKind.EXTERNAL):
            Snapshot.objects.filter(pk=snap.pk).update(
                layer_path=new_path[snap.layer_path],
                layer_backing=new_path.get(snap.layer_backing, snap.layer_backing),
                overlay_path=new_path.get(snap.overlay_path, snap.overlay_path),
            )
        Volume.objects.filter(pk=volume.pk).update(
            pool=target,
            path=new_path[volume.path],
            backing_path=new_path.get(volume.backing_path, volume.backing_path),
            state_reason="",
        )
