"""The file graph behind a volume's external snapshots, in database terms only.

Every external snapshot keeps one frozen file (``layer_path``, backed by ``layer_backing``);
the volume's active file is ``Volume.path`` backed by ``Volume.backing_path``. Parent and
current are derived from these paths, so they can never disagree with the files."""

from storage.choices import LAYER_SEPARATOR, SnapshotKind
from storage.models import Snapshot, Volume

ACTIVE = "active"


def external_snapshots(volume):
    return Snapshot.objects.filter(volume=volume, kind=SnapshotKind.EXTERNAL)


def children(volume, path):
    """The layers backed by `path`: ("active", volume) and/or ("snapshot", snapshot) pairs."""
    found = [("snapshot", snap) for snap in external_snapshots(volume).filter(layer_backing=path)]
    if volume.backing_path == path and path:
        found.append((ACTIVE, volume))
    return found


def graph(volume):
    """{file path: its backing path or ''} for every layer the database knows of."""
    files = {snap.layer_path: snap.layer_backing for snap in external_snapshots(volume)}
    files[volume.path] = volume.backing_path
    return files


def next_layer_name(volume):
    volume.layer_seq += 1
    return f"{volume.base_name}{LAYER_SEPARATOR}{volume.layer_seq}"


def relink(volume):
    """Recompute parent and current of a volume's external snapshots from the paths."""
    snaps = list(external_snapshots(volume))
    by_layer = {snap.layer_path: snap for snap in snaps}
    for snap in snaps:
        parent = by_layer.get(snap.layer_backing)
        current = snap.layer_path == volume.backing_path
        if snap.parent_id != (parent.pk if parent else None) or snap.current != current:
            Snapshot.objects.filter(pk=snap.pk).update(parent=parent, current=current)


def merge_plan(snapshot):
    """What deleting an external snapshot does: ('drop', None) when nothing is built on its
    file, ('merge', child) when one layer (a snapshot's file or the active one) is built on it. Raises ValueError when its file has
    several children (branches after a revert), which no single merge can keep intact."""
    kids = children(snapshot.volume, snapshot.layer_path)
    if not kids:
        return "drop", None
    if len(kids) > 1:
        raise ValueError(
            f"{len(kids)} layers are built on snapshot {snapshot.name} (branches after a revert); "
            "delete the other branch's snapshots first."
        )
    return "merge", kids[0][1]


def is_active(child):
    return isinstance(child, Volume)
