"""storage's services: what views, the API and other apps call. They check the rules, take quota,
write the Operation and queue the task; one module per subject (pools, volumes, stream: data in
and out, snapshots; common: the guards they share)."""

from storage.services.common import instances_for
from storage.services.pools import check_capacity, define_pool, delete_pool, pool_action
from storage.services.snapshots import create_snapshot, delete_snapshot, revert_snapshot, snapshot_tree
from storage.services.stream import download_volume, upload_volume
from storage.services.volumes import (
    attach_volume,
    create_volume,
    delete_volume,
    detach_volume,
    flatten_volume,
    map_device,
    migrate_volume,
    reclaim_space,
    resize_volume,
    set_template,
)

__all__ = [
    "attach_volume",
    "check_capacity",
    "create_snapshot",
    "create_volume",
    "define_pool",
    "delete_pool",
    "delete_snapshot",
    "delete_volume",
    "detach_volume",
    "download_volume",
    "flatten_volume",
    "instances_for",
    "map_device",
    "migrate_volume",
    "pool_action",
    "reclaim_space",
    "resize_volume",
    "revert_snapshot",
    "set_template",
    "snapshot_tree",
    "upload_volume",
]
