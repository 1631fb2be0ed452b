"""External instance snapshots in database terms: which disks an instance snapshot freezes, the
root disk's chain (compute finds its active file through compute.hooks.root_disk_path), and the
parent / current links derived from the files, as storage.chains does for one volume.

Every disk of an external instance snapshot keeps one frozen file (a SnapshotLayer); the disk's
active file is RootDisk.path (the root disk) or Volume.path (an attached volume)."""

from dataclasses import dataclass

from compute import hooks
from compute.domain import DISK_TARGETS
from portal import quotas
from storage import chains
from storage.choices import BYTES_PER_GIB, LAYER_SEPARATOR, SnapshotKind, VolumeFormat
from storage.models import RootDisk, Snapshot, SnapshotLayer, Volume

FROZEN_REASON = (
    "it has external snapshots, whose frozen files its root disk is built on; "
    "delete them (their data merges into the disk) first."
)


@dataclass
class Disk:
    """One disk of an instance as external snapshots see it: its active file and where that is kept."""

    target_dev: str
    pool: str
    libvirt_name: str
    path: str
    backing_path: str
    capacity_bytes: int
    volume: Volume | None = None
    root: RootDisk | None = None

    def next_layer_name(self):
        owner = self.root if self.volume is None else self.volume
        owner.layer_seq += 1
        base = self.root.instance.root_volume if self.volume is None else self.volume.base_name
        return f"{base}{LAYER_SEPARATOR}{owner.layer_seq}"

    def set_active(self, libvirt_name, path, backing_path):
        """Record the disk's new active file (and the layer counter) on its row."""
        self.libvirt_name, self.path, self.backing_path = libvirt_name, path, backing_path or ""
        fields = {"libvirt_name": libvirt_name, "path": path, "backing_path": self.backing_path}
        if self.volume is None:
            RootDisk.objects.filter(pk=self.root.pk).update(layer_seq=self.root.layer_seq, **fields)
        else:
            Volume.objects.filter(pk=self.volume.pk).update(layer_seq=self.volume.layer_seq, **fields)


def external_snapshots(instance):
    return Snapshot.objects.filter(instance=instance, kind=SnapshotKind.EXTERNAL)


def has_external(instance):
    return external_snapshots(instance).exists()


def root_target(instance):
    return DISK_TARGETS[instance.flavor.disk_bus]


def root_disk(instance, fixed_volume):
    """The instance's RootDisk row, made on first use from compute's fixed root volume
    (``fixed_volume``: a callable returning its hv.VolumeInfo, asked only then)."""
    found = RootDisk.objects.filter(instance=instance).first()
    if found is None:
        info = fixed_volume()
        found = RootDisk.objects.create(
            instance=instance,
            pool=instance.image.pool,
            libvirt_name=info.name,
            path=info.path,
            backing_path=info.backing_path or "",
        )
    found.instance = instance
    return found


def snapshot_volumes(instance):
    """(attached volumes frozen with the root disk, volumes left out with why)."""
    taken, skipped = [], []
    for volume in instance.volumes.select_related("pool").order_by("target_dev"):
        if volume.is_raw_device or volume.format != VolumeFormat.QCOW2:
            skipped.append((volume, "not a qcow2 file"))
        elif volume.readonly or volume.shareable or volume.is_template:
            skipped.append((volume, "read-only or shared"))
        else:
            taken.append(volume)
    return taken, skipped


def volume_disk(volume):
    return Disk(
        target_dev=volume.target_dev,
        pool=volume.pool.libvirt_name,
        libvirt_name=volume.libvirt_name,
        path=volume.path,
        backing_path=volume.backing_path,
        capacity_bytes=volume.size_gb * BYTES_PER_GIB,
        volume=volume,
    )


def root_as_disk(instance, root):
    return Disk(
        target_dev=root_target(instance),
        pool=root.pool,
        libvirt_name=root.libvirt_name,
        path=root.path,
        backing_path=root.backing_path,
        capacity_bytes=instance.disk_gb * BYTES_PER_GIB,
        root=root,
    )


def disk_of_layer(layer):
    """The disk a layer belongs to, with its current active file (reloaded)."""
    instance = layer.snapshot.instance
    if layer.volume_id is None:
        return root_as_disk(instance, RootDisk.objects.select_related("instance").get(instance=instance))
    return volume_disk(Volume.objects.select_related("pool").get(pk=layer.volume_id))


def layers_of_disk(instance, layer):
    """All frozen files of the disk ``layer`` belongs to, across the instance's snapshots."""
    return SnapshotLayer.objects.filter(
        snapshot__instance=instance, volume_id=layer.volume_id, target_dev=layer.target_dev
    )


def children(disk, layer, others):
    """What is built on ``layer``'s file: other layers and/or the disk's active file (the Disk)."""
    found = [other for other in others if other.layer_backing == layer.layer_path and other.pk != layer.pk]
    if disk.backing_path == layer.layer_path:
        found.append(disk)
    return found


def relink(instance):
    """Parent and current of the instance's external snapshots, from the root disk's files."""
    root = RootDisk.objects.filter(instance=instance).first()
    layers = {
        layer.snapshot_id: layer
        for layer in SnapshotLayer.objects.filter(snapshot__instance=instance, volume__isnull=True)
    }
    by_path = {layer.layer_path: snap_id for snap_id, layer in layers.items()}
    for snap in external_snapshots(instance):
        layer = layers.get(snap.pk)
        if layer is None:
            continue
        parent_id = by_path.get(layer.layer_backing)
        current = root is not None and layer.layer_path == root.backing_path
        Snapshot.objects.filter(pk=snap.pk).update(
            parent_id=parent_id, current=current, layer_path=layer.layer_path, layer_backing=layer.layer_backing
        )


def root_disk_info(instance):
    """compute.hooks.register_root_disk's provider: None until external snapshots made a chain."""
    if getattr(instance, "pk", None) is None:
        return None
    root = RootDisk.objects.filter(instance=instance).first()
    if root is None:
        return None
    frozen_files = [
        (layer.snapshot.created, layer.libvirt_name)
        for layer in SnapshotLayer.objects.filter(snapshot__instance=instance, volume__isnull=True).select_related(
            "snapshot"
        )
    ]
    names = [root.libvirt_name] + [
        name for _created, name in sorted(frozen_files, reverse=True) if name != root.libvirt_name
    ]
    return hooks.RootDisk(
        path=root.path,
        files=tuple((root.pool, name) for name in names),
        frozen=FROZEN_REASON if has_external(instance) else "",
    )


def hand_over(instance):
    """Once the instance's domain and root chain are gone: the frozen files of its attached
    volumes become those volumes' own external snapshots (their chains stay whole and
    deletable), and the instance's external snapshots are forgotten with their quota."""

    volumes = set()
    for snap in external_snapshots(instance).prefetch_related("layers"):
        for layer in snap.layers.all():
            if layer.volume_id is None:
                continue
            Snapshot.objects.create(
                project=snap.project,
                name=snap.name,
                description=snap.description,
                volume_id=layer.volume_id,
                kind=SnapshotKind.EXTERNAL,
                libvirt_name=layer.libvirt_name,
                layer_path=layer.layer_path,
                layer_backing=layer.layer_backing,
                state=snap.state,
                simulated=snap.simulated,
            )
            volumes.add(layer.volume_id)
        if snap.quota_held:
            quotas.give_back(snap.project, snapshots=1)
        snap.delete()
    RootDisk.objects.filter(instance=instance).delete()
    for volume in Volume.objects.filter(pk__in=volumes):
        chains.relink(volume)
