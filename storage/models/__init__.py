from storage.models.pools import StoragePool
from storage.models.snapshots import Snapshot
from storage.models.volumes import Volume

__all__ = ["Snapshot", "StoragePool", "Volume"]
