"""Storage's side of a copy-storage live migration (compute.hooks.instance_migrated).

With copy-storage libvirt copies every disk whose pool the target cannot see to the same
path on the target (VIR_MIGRATE_NON_SHARED_DISK: the whole chain flattened into one file).
Afterwards the database must say where each attached volume lives: in the target's pool that
holds that path (same libvirt pool name, or same directory), flat, with its source copy gone.
External snapshots of such a volume stay behind on the source with their files; they are
marked so, never silently dropped. Simulated hosts share nothing, so the file is stood up on
the simulated target (as compute does for the root disk)."""

import logging

import hypervisor as hv
from storage.choices import BYTES_PER_GIB, SnapshotKind, SnapshotState
from storage.models import RootDisk, Snapshot, StoragePool, Volume

log = logging.getLogger(__name__)


def target_pool(volume, target):
    """The pool of `target` that holds the volume's copy: same libvirt name first, then the
    same directory; None when no pool registered in Nubes does."""
    seen = StoragePool.objects.filter(hosts=target)
    by_name = seen.filter(libvirt_name=volume.pool.libvirt_name).first()
    if by_name is not None:
        return by_name
    if volume.pool.target_path:
        return seen.filter(target_path=volume.pool.target_path).first()
    return None


def follow_migration(sender, instance, source, target, copied_storage=False, root_disk=None, **kwargs):
    """Receiver: move the records of the instance's copied volumes (and root disk) to the target's pools."""
    if not copied_storage:
        return
    if root_disk is not None:
        follow_root(instance, *root_disk)
    for volume in Volume.objects.select_related("pool").filter(instance=instance):
        if volume.pool.hosts.filter(pk=target.pk).exists():
            continue  # a shared pool: libvirt did not copy it, nothing moved
        follow_volume(volume, source, target)


def follow_root(instance, pool, name, path):
    """compute copied the root disk flat into `pool` of the target: the root disk is there now
    (compute finds it through compute.hooks.root_disk_files)."""
    RootDisk.objects.update_or_create(
        instance=instance, defaults={"pool": pool, "libvirt_name": name, "path": path, "backing_path": ""}
    )


def follow_volume(volume, source, target):
    if volume.is_raw_device:
        Volume.objects.filter(pk=volume.pk).update(
            state_reason=f"Mapped device {volume.device_path} must exist on {target.name} too; Nubes copies no devices."
        )
        return
    pool = target_pool(volume, target)
    if pool is None:
        Volume.objects.filter(pk=volume.pk).update(
            state_reason=(
                f"Copied to {target.name} at {volume.path} by a copy-storage migration, but no pool of {target.name} "
                f"registered in Nubes holds it: define a pool named {volume.pool.libvirt_name} there."
            )
        )
        return
    name = volume.libvirt_name
    try:
        info = _copy_on_target(volume, target, pool)
    except hv.HypervisorError as exc:
        Volume.objects.filter(pk=volume.pk).update(state_reason=f"Copied to {target.name}, but not found there: {exc}")
        return
    snapshots = Snapshot.objects.filter(volume=volume, kind=SnapshotKind.EXTERNAL)
    left_behind = snapshots.exists()
    snapshots.update(
        state=SnapshotState.ERROR,
        current=False,
        state_reason=(
            f"Its file stays on {source.name} in pool {volume.pool.name}: the copy-storage migration to {target.name} "
            "copied the disk flattened. Delete this snapshot to free the file."
        ),
    )
    flat = not info.backing_path
    Volume.objects.filter(pk=volume.pk).update(
        pool=pool,
        path=info.path,
        backing_path=info.backing_path or "",
        allocation_bytes=info.allocation_bytes,
        state_reason="",
    )
    if flat:  # a linked clone copied flattened no longer needs its template
        Volume.objects.filter(pk=volume.pk).update(backing_volume=None, backing_snapshot=None)
    if not left_behind:
        _drop_source_copy(source, volume.pool.libvirt_name, name)


def _copy_on_target(volume, target, pool):
    if target.simulated:
        try:
            return hv.volume_info(target.uri, pool.libvirt_name, volume.libvirt_name)
        except hv.VolumeNotFound:
            return hv.volume_create(
                target.uri, pool.libvirt_name, volume.libvirt_name, volume.size_gb * BYTES_PER_GIB, volume.format
            )
    hv.pool_refresh(target.uri, pool.libvirt_name)  # libvirt precreated the file; make its pool list it
    return hv.volume_info(target.uri, pool.libvirt_name, volume.libvirt_name)


def _drop_source_copy(source, pool_name, name):
    try:
        hv.volume_delete(source.uri, pool_name, name)
    except (hv.VolumeNotFound, hv.PoolNotFound):
        return
    except hv.HypervisorError as exc:
        log.warning("could not remove the source copy %s/%s on %s: %s", pool_name, name, source, exc)
