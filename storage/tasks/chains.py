"""Work on a volume's whole chain of external layers: deleting a point with a merge (moving
the chain to another pool is storage.tasks.chain_move).

Merging snapshot S (file F_s) into the one layer C built on it takes one of two shapes:
- pull: C absorbs S's data (blockPull / ``qemu-img rebase``); C keeps its file, F_s goes.
- commit: S's file absorbs C's data (blockCommit, active + pivot when C is the running layer,
  or ``qemu-img commit``); C's point takes over F_s and C's own file goes.
Each copies the data of the layer that disappears, so the smaller one is chosen.
A running disk merges through block jobs; a stopped or detached one offline (hypervisor.offline:
qemu-img on a local host, block jobs of a paused helper domain on a remote one); test hosts
recreate their data-less files. An offline commit of a middle layer repoints the one layer built
on it at the base; with several built on it, the merge pulls instead."""

from django.db import transaction

import hypervisor as hv
from portal import operations, quotas
from portal.errors import ActionError
from storage import chains
from storage.hosts import instance_running, volume_host
from storage.models import Snapshot, Volume

COMMIT, PULL = "commit", "pull"


def merge_shape(host, pool, snapshot, child):
    """COMMIT when the layer built on the snapshot holds less data than the snapshot's file."""
    child_bytes = hv.volume_info(host.uri, pool, child.libvirt_name).allocation_bytes
    own_bytes = hv.volume_info(host.uri, pool, snapshot.libvirt_name).allocation_bytes
    return COMMIT if child_bytes < own_bytes else PULL


def merge(op, snapshot, run_block_job):
    """Remove an external point; the chain stays whole and the database says what the files say."""
    volume = Volume.objects.select_related("pool", "instance__host").get(pk=snapshot.volume_id)
    host, pool = volume_host(volume), volume.pool.libvirt_name
    try:
        _plan, child = chains.merge_plan(snapshot)
    except ValueError as exc:
        raise ActionError(str(exc)) from exc
    if child is None:
        return _drop(volume, snapshot, host, pool, f"Snapshot {snapshot.name} deleted (nothing was built on it)")
    shape = merge_shape(host, pool, snapshot, child)
    if instance_running(volume.instance):
        return _merge_live(op, volume, snapshot, child, host, pool, shape, run_block_job)
    if host.simulated:
        hv.volume_rebase(host.uri, pool, child.libvirt_name, snapshot.layer_backing or None)
        return _pulled(volume, snapshot, child, host, pool, "simulated")
    overlays = (
        [] if chains.is_active(child) else [_path(kid) for _kind, kid in chains.children(volume, child.layer_path)]
    )
    if len(overlays) > 1:
        shape = PULL  # a commit would leave every overlay but one backed by a deleted file
    how = hv.offline_how(host.uri, "commit" if shape == COMMIT else "rebase")
    operations.progress(op, 30, f"{how.capitalize()} on {host.name}")
    if shape == COMMIT:
        hv.image_commit(host.uri, _path(child), overlay_path=next(iter(overlays), None))
        if chains.is_active(child) and volume.instance_id:
            hv.disk_set_source(host.uri, str(volume.instance.uuid), volume.target_dev, snapshot.layer_path)
        hv.pool_refresh(host.uri, pool)
        return _took_over(volume, snapshot, child, host, pool, how)
    hv.image_rebase(host.uri, _path(child), snapshot.layer_backing or None)
    hv.pool_refresh(host.uri, pool)
    return _pulled(volume, snapshot, child, host, pool, how)


def _merge_live(op, volume, snapshot, child, host, pool, shape, run_block_job):
    uuid, dev = str(volume.instance.uuid), volume.target_dev
    if not chains.is_active(child):
        hv.block_commit(host.uri, uuid, dev, top_path=child.layer_path, base_path=snapshot.layer_path)
        run_block_job(op, host.uri, uuid, dev)
        if host.simulated:
            hv.volume_rebase(host.uri, pool, child.libvirt_name, snapshot.layer_backing or None)
            return _pulled(volume, snapshot, child, host, pool, "simulated commit")
        return _took_over(volume, snapshot, child, host, pool, "blockCommit")
    if shape == COMMIT:
        # The newest point under a small active layer: commit the active layer down and pivot
        # the guest onto the snapshot's file (it copies only what was written since).
        hv.block_commit(host.uri, uuid, dev, base_path=snapshot.layer_path, active=True)
        run_block_job(op, host.uri, uuid, dev, pivot=True)
        if not host.simulated:
            hv.pool_refresh(host.uri, pool)
        return _took_over(volume, snapshot, child, host, pool, "active blockCommit + pivot")
    hv.block_pull(host.uri, uuid, dev, base_path=snapshot.layer_backing or None)
    run_block_job(op, host.uri, uuid, dev)
    hv.volume_rebase(host.uri, pool, child.libvirt_name, snapshot.layer_backing or None, done_by_job=not host.simulated)
    return _pulled(volume, snapshot, child, host, pool, "blockPull")


def _path(layer):
    return layer.path if chains.is_active(layer) else layer.layer_path


def forget(snapshot):
    if snapshot.quota_held:
        quotas.give_back(snapshot.project, snapshots=1)
    snapshot.delete()


def _drop(volume, snapshot, host, pool, message):
    hv.volume_delete(host.uri, pool, snapshot.libvirt_name)
    with transaction.atomic():
        forget(snapshot)
        chains.relink(Volume.objects.get(pk=volume.pk))
    return message


def _pulled(volume, snapshot, child, host, pool, how):
    """The child absorbed the snapshot: it is now backed by the snapshot's backing file."""
    if chains.is_active(child):
        Volume.objects.filter(pk=volume.pk).update(backing_path=snapshot.layer_backing)
    else:
        Snapshot.objects.filter(pk=child.pk).update(layer_backing=snapshot.layer_backing)
    return _drop(volume, snapshot, host, pool, f"Snapshot {snapshot.name} merged and deleted ({how})")


def _took_over(volume, snapshot, child, host, pool, how):
    """The snapshot's file now holds the child's data: the child's point takes over that file
    and the child's own file goes."""
    hv.volume_delete(host.uri, pool, child.libvirt_name)
    with transaction.atomic():
        if chains.is_active(child):
            Volume.objects.filter(pk=volume.pk).update(
                libvirt_name=snapshot.libvirt_name, path=snapshot.layer_path, backing_path=snapshot.layer_backing
            )
        else:
            Snapshot.objects.filter(pk=child.pk).update(
                libvirt_name=snapshot.libvirt_name, layer_path=snapshot.layer_path, layer_backing=snapshot.layer_backing
            )
            if volume.backing_path == child.layer_path:
                Volume.objects.filter(pk=volume.pk).update(backing_path=snapshot.layer_path)
            Snapshot.objects.filter(volume=volume, layer_backing=child.layer_path).update(
                layer_backing=snapshot.layer_path
            )
        forget(snapshot)
        chains.relink(Volume.objects.get(pk=volume.pk))
    return f"Snapshot {snapshot.name} merged into its own file and deleted ({how})"
