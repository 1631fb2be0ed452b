from storage.models.pools import StoragePool
from storage.models.snapshots import RootDisk, Snapshot, SnapshotLayer
from storage.models.volumes import Volume

__all__ = ["RootDisk", "Snapshot", "SnapshotLayer", "StoragePool", "Volume"]
