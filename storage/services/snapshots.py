"""The verbs of snapshots: create (of a volume or an instance), revert, delete (merge), and
the tree the pages show."""

from django.db import transaction

from compute.choices import InstanceState
from portal import quotas
from portal.errors import ActionError, Conflict
from storage import chains, instance_chains
from storage.choices import (
    Action,
    SnapshotKind,
    SnapshotState,
    VolumeFormat,
    VolumeState,
)
from storage.hosts import instance_running
from storage.models import Snapshot, Volume
from storage.services.common import (
    ATTACHABLE_STATES,
    check_idle,
    check_not_in_instance_snapshot,
    check_writer,
    queue,
)
from storage.tasks import snapshots as tasks


def create_snapshot(user, *, name, volume=None, instance=None, kind=None, description="", request=None):
    if (volume is None) == (instance is None):
        raise ActionError("Snapshot a volume or an instance.")
    owner = volume or instance
    kind = kind or (SnapshotKind.EXTERNAL if volume else SnapshotKind.INTERNAL)
    check_writer(user, owner.project)
    check_idle(owner)
    if volume is not None:
        _check_volume_snapshot(volume, kind)
        check_not_in_instance_snapshot(volume)
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
        op = queue(
            f"snapshot.{Action.CREATE}",
            owner,
            user,
            tasks.create_snapshot,
            request=request,
            detail={"snapshot": snapshot.pk, "state": getattr(volume, "state", "")},
        )
    return snapshot, op


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
            check_idle(volume)
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
    check_writer(user, snapshot.project)
    check_idle(owner)
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
        return queue(
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
        return queue(
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
