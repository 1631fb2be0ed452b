"""External instance snapshots: every disk of the instance (the root disk and its attached qcow2
volumes) frozen at once behind a new overlay, reverted by fresh overlays on the chosen point
(libvirt 9.0 cannot revert external snapshots), deleted by merging each disk's frozen file into
the layer built on it, with the shapes of storage.tasks.chains (commit or pull, whichever copies
less; block jobs while the instance runs; stopped, offline: qemu-img on a local host, block
jobs of a paused helper domain on a remote one).

Test hosts have no disk-only snapshots and no block jobs: the gateway simulates them (the
definition's disk sources rewritten, jobs modelled) and the snapshot is marked simulated."""

from django.db import transaction

import hypervisor as hv
from compute.models import Instance
from portal import operations
from portal.errors import ActionError
from storage import instance_chains
from storage.choices import SnapshotState
from storage.hosts import instance_running
from storage.models import Snapshot, SnapshotLayer
from storage.tasks import chains as chain_tasks

NOT_QUIESCED_NO_CHANNEL = "not quiesced: the domain has no guest-agent channel"
NOT_QUIESCED_STOPPED = "not quiesced: the instance is stopped, its disks are at rest"
NOT_QUIESCED_SIMULATED = "not quiesced: simulated host"


def _instance(snapshot):
    return Instance.objects.select_related("host", "image", "flavor", "project").get(pk=snapshot.instance_id)


def _freeze(instance, overlays):
    """Switch the disks to their overlays in one snapshot; returns (DiskChange, quiesce note)."""
    uri, uuid = instance.host.uri, str(instance.uuid)
    if instance.host.simulated or not instance_running(instance):
        note = NOT_QUIESCED_SIMULATED if instance.host.simulated else NOT_QUIESCED_STOPPED
        return hv.disks_snapshot_external(uri, uuid, overlays), note
    if not hv.domain_has_guest_agent(uri, uuid):
        return hv.disks_snapshot_external(uri, uuid, overlays), NOT_QUIESCED_NO_CHANNEL
    try:
        return hv.disks_snapshot_external(uri, uuid, overlays, quiesce=True), "quiesced through the guest agent"
    except hv.GuestAgentUnavailable as exc:
        # The channel is there but no agent answers (not installed, not started yet).
        change = hv.disks_snapshot_external(uri, uuid, overlays)
        return change, f"not quiesced: the guest agent did not answer ({exc})"


def _new_overlays(instance, disks, backing_of):
    """One new qcow2 overlay per disk on ``backing_of(disk)``; all or none."""
    uri, made = instance.host.uri, []
    try:
        for disk in disks:
            name = disk.next_layer_name()
            made.append(
                (
                    disk,
                    hv.volume_create(
                        uri,
                        disk.pool,
                        name,
                        disk.capacity_bytes,
                        "qcow2",
                        backing_path=backing_of(disk),
                        backing_format="qcow2",
                    ),
                )
            )
    except hv.HypervisorError:
        _remove_overlays(instance, made)
        raise
    return made


def _refresh_pools(instance, disks):
    """A pool shared by several hosts lists files another host made only after a refresh (an
    instance that migrated finds its chain's files, made on the other host, by name)."""
    if not instance.host.simulated:
        for pool in sorted({disk.pool for disk in disks}):
            hv.pool_refresh(instance.host.uri, pool)


def _remove_overlays(instance, made):
    for disk, info in reversed(made):
        hv.volume_delete(instance.host.uri, disk.pool, info.name)


def create(snapshot):
    instance = _instance(snapshot)
    uri = instance.host.uri
    root = instance_chains.root_disk(instance, lambda: hv.volume_info(uri, instance.image.pool, instance.root_volume))
    volumes, skipped = instance_chains.snapshot_volumes(instance)
    disks = [instance_chains.root_as_disk(instance, root)] + [instance_chains.volume_disk(v) for v in volumes]
    _refresh_pools(instance, disks)
    made = _new_overlays(instance, disks, lambda disk: disk.path)
    try:
        change, note = _freeze(instance, {disk.target_dev: info.path for disk, info in made})
    except hv.HypervisorError:
        _remove_overlays(instance, made)
        raise
    root_layer_name = disks[0].libvirt_name  # the root disk's frozen file names the point
    with transaction.atomic():
        for disk, info in made:
            SnapshotLayer.objects.create(
                snapshot=snapshot,
                volume=disk.volume,
                target_dev=disk.target_dev,
                libvirt_name=disk.libvirt_name,
                layer_path=disk.path,
                layer_backing=disk.backing_path,
            )
            disk.set_active(info.name, info.path, disk.path)
        Snapshot.objects.filter(pk=snapshot.pk).update(
            libvirt_name=root_layer_name, state=SnapshotState.AVAILABLE, simulated=change.simulated, state_reason=note
        )
        instance_chains.relink(instance)
    left_out = "".join(f"; {volume.name} left out ({why})" for volume, why in skipped)
    return (
        f"External snapshot {snapshot.name} of {instance.name}: {len(made)} disk(s) now write to new overlays "
        f"({note}){left_out}" + (" (simulated)" if change.simulated else "")
    )


def revert(snapshot):
    """Fresh overlays on the snapshot's frozen files for every disk it holds; the abandoned
    active files (nothing is ever built on an active file) are removed."""
    instance = _instance(snapshot)
    if instance_running(instance):
        raise ActionError(f"{instance.name} runs: stop it, then revert to an external snapshot.")
    layers = {layer.target_dev: layer for layer in snapshot.layers.select_related("snapshot__instance")}
    disks = [instance_chains.disk_of_layer(layer) for layer in layers.values()]
    _refresh_pools(instance, disks)
    made = _new_overlays(instance, disks, lambda disk: layers[disk.target_dev].layer_path)
    try:
        change = hv.disks_snapshot_external(
            instance.host.uri, str(instance.uuid), {disk.target_dev: info.path for disk, info in made}
        )
    except hv.HypervisorError:
        _remove_overlays(instance, made)
        raise
    abandoned = [(disk.pool, disk.libvirt_name) for disk, _info in made]
    with transaction.atomic():  # the domain uses the new overlays now: record them before any clean-up
        for disk, info in made:
            disk.set_active(info.name, info.path, layers[disk.target_dev].layer_path)
        instance_chains.relink(instance)
    leftovers = []
    for pool, name in abandoned:
        try:
            hv.volume_delete(instance.host.uri, pool, name)
        except hv.HypervisorError as exc:
            leftovers.append(f"{name}: {exc}")
    return (
        f"{instance.name} reverted to {snapshot.name}: {len(made)} disk(s) on fresh overlays"
        + (" (simulated)" if change.simulated else "")
        + (f"; could not remove the abandoned files {'; '.join(leftovers)}" if leftovers else "")
    )


def merge(op, snapshot, run_block_job):
    """Delete an external instance snapshot: each disk's frozen file merges into the one layer
    built on it (or is dropped when nothing is). Branches after a revert are refused before any
    disk is touched."""
    instance = _instance(snapshot)
    plans = []
    for layer in snapshot.layers.select_related("snapshot__instance"):
        disk = instance_chains.disk_of_layer(layer)
        kids = instance_chains.children(disk, layer, list(instance_chains.layers_of_disk(instance, layer)))
        if len(kids) > 1:
            raise ActionError(
                f"{len(kids)} layers are built on snapshot {snapshot.name}'s file of {layer.target_dev} "
                "(branches after a revert); delete the other branch's snapshots first."
            )
        plans.append((layer, disk, kids[0] if kids else None))
    _refresh_pools(instance, [disk for _layer, disk, _child in plans])
    hows = []
    for index, (layer, disk, child) in enumerate(plans, start=1):
        operations.progress(op, 90 * (index - 1) // len(plans), f"Merging {layer.target_dev}")
        hows.append(f"{layer.target_dev}: {_merge_layer(op, instance, layer, disk, child, run_block_job)}")
        # This disk no longer has the frozen file: a failure on the next disk leaves a point a retry finishes.
        SnapshotLayer.objects.filter(pk=layer.pk).delete()
    with transaction.atomic():
        chain_tasks.forget(snapshot)
        instance_chains.relink(instance)
    return f"Snapshot {snapshot.name} merged and deleted ({'; '.join(hows)})"


def _merge_layer(op, instance, layer, disk, child, run_block_job):
    host, uri, uuid, dev, pool = instance.host, instance.host.uri, str(instance.uuid), disk.target_dev, disk.pool
    base = layer.layer_backing or None
    if child is None:
        hv.volume_delete(uri, pool, layer.libvirt_name)
        return "dropped"
    active = child is disk
    shape = chain_tasks.merge_shape(host, pool, layer, child)
    if instance_running(instance):
        if active and shape == chain_tasks.COMMIT:
            hv.block_commit(uri, uuid, dev, base_path=layer.layer_path, active=True)
            run_block_job(op, uri, uuid, dev, pivot=True)
            return _took_over(instance, layer, disk, child, "active blockCommit + pivot")
        if active:
            hv.block_pull(uri, uuid, dev, base_path=base)
            run_block_job(op, uri, uuid, dev)
            hv.volume_rebase(uri, pool, child.libvirt_name, base, done_by_job=not host.simulated)
            return _pulled(instance, layer, disk, child, "blockPull")
        hv.block_commit(uri, uuid, dev, top_path=child.layer_path, base_path=layer.layer_path)
        run_block_job(op, uri, uuid, dev)
        if host.simulated:
            hv.volume_rebase(uri, pool, child.libvirt_name, base)
            return _pulled(instance, layer, disk, child, "simulated blockCommit")
        return _took_over(instance, layer, disk, child, "blockCommit")
    if host.simulated:
        hv.volume_rebase(uri, pool, child.libvirt_name, base)
        return _pulled(instance, layer, disk, child, "simulated")
    child_path = child.path if active else child.layer_path
    overlays = [] if active else _built_on(instance, disk, child)
    if shape == chain_tasks.COMMIT and len(overlays) <= 1:
        hv.image_commit(uri, child_path, overlay_path=next(iter(overlays), None))
        if active:
            hv.disk_set_source(uri, uuid, dev, layer.layer_path)
        return _took_over(instance, layer, disk, child, hv.offline_how(uri, "commit"))
    hv.image_rebase(uri, child_path, base)
    return _pulled(instance, layer, disk, child, hv.offline_how(uri, "rebase"))


def _built_on(instance, disk, child):
    """The files built on ``child``'s frozen file (an offline commit repoints one of them)."""
    kids = instance_chains.children(disk, child, list(instance_chains.layers_of_disk(instance, child)))
    return [kid.path if kid is disk else kid.layer_path for kid in kids]


def _pulled(instance, layer, disk, child, how):
    """The child absorbed the frozen file's data; it is now backed by that file's backing file."""
    if child is disk:
        disk.set_active(disk.libvirt_name, disk.path, layer.layer_backing)
    else:
        SnapshotLayer.objects.filter(pk=child.pk).update(layer_backing=layer.layer_backing)
    hv.volume_delete(instance.host.uri, disk.pool, layer.libvirt_name)
    _refresh(instance, disk)
    return how


def _took_over(instance, layer, disk, child, how):
    """The frozen file now holds the child's data too: the child's point takes the file over and
    the child's own file goes."""
    hv.volume_delete(instance.host.uri, disk.pool, child.libvirt_name)
    if child is disk:
        disk.set_active(layer.libvirt_name, layer.layer_path, layer.layer_backing)
    else:
        SnapshotLayer.objects.filter(pk=child.pk).update(
            libvirt_name=layer.libvirt_name, layer_path=layer.layer_path, layer_backing=layer.layer_backing
        )
        SnapshotLayer.objects.filter(
            snapshot__instance=instance, target_dev=layer.target_dev, layer_backing=child.layer_path
        ).update(layer_backing=layer.layer_path)
        if disk.backing_path == child.layer_path:
            disk.set_active(disk.libvirt_name, disk.path, layer.layer_path)
    _refresh(instance, disk)
    return how


def _refresh(instance, disk):
    if not instance.host.simulated:
        hv.pool_refresh(instance.host.uri, disk.pool)
