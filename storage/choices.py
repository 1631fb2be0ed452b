"""Named constants of the storage app: states, kinds and the numbers behind them."""

import os.path
import re

from django.conf import settings
from django.db import models

BYTES_PER_GIB = 1024**3
MAX_VOLUME_GB = 64 * 1024
DEFAULT_OVERCOMMIT = 1.5  # thin provisioning: provisioned may be 150 % of capacity
MAX_OVERCOMMIT = 20.0
VOLUME_PREFIX = "nubes-vol-"
LAYER_SEPARATOR = "-l"  # overlay layers: nubes-vol-<uuid>-l<n>
# Where pools may live unless NUBES_STORAGE_ROOTS (settings) says otherwise.
DEFAULT_STORAGE_ROOTS = ("/var/lib/libvirt/images", "/var/lib/nubes", "/srv", "/mnt", "/dev")
# How often a task looks at a running block job (settings can shorten it for tests).
DEFAULT_BLOCKJOB_POLL_S = 0.5
# Uploads: streamed to the host in chunks (never spooled); a qcow2 body is checked by its header.
# The first read (the header check) is of 256 KiB, what virsh's virStreamSendAll sends (libvirt's
# legacy stream payload); 256 KiB sends took 2.90-3.63 s for 1 GiB against 3.45-4.33 with 1 MiB,
# interleaved runs, session 8 (4 MiB sends were slower still). After it a streamed body goes on in
# the buffers the ASGI server received (up to about 256 KiB each), one virStreamSend each, uncopied
# (portal.streaming.body_pieces): reading them into 256 KiB chunks copied every byte twice (a
# join and a read), 218-291 MiB/s to host B against 327-378 without those copies, session 10.
UPLOAD_CHUNK = 256 << 10
QCOW2_MAGIC = b"QFI\xfb"
QCOW2_SIZE_OFFSET = 24  # big-endian u64 virtual size
QCOW2_HEADER_BYTES = 32
# Disk targets a volume may take, after the instance's root disk.
VIRTIO_TARGETS = tuple(f"vd{letter}" for letter in "bcdefghijklmnopqrstuvwxyz")
SCSI_TARGETS = tuple(f"sd{letter}" for letter in "bcdefghijklmnopqrstuvwxyz")


def storage_roots():
    return tuple(getattr(settings, "NUBES_STORAGE_ROOTS", DEFAULT_STORAGE_ROOTS))


def blockjob_poll_s():
    return float(getattr(settings, "NUBES_BLOCKJOB_POLL_S", DEFAULT_BLOCKJOB_POLL_S))


def inside_roots(path, roots=None):
    """True when `path` is absolute, has no '..' and lies under one of the allowed roots."""
    if not path or not os.path.isabs(path) or ".." in path.split("/"):
        return False
    normal = os.path.normpath(path)
    return any(normal == root or normal.startswith(root.rstrip("/") + "/") for root in (roots or storage_roots()))


class PoolType(models.TextChoices):
    DIR = "dir", "Directory"
    NETFS = "netfs", "Network file system (NFS, GlusterFS)"
    LOGICAL = "logical", "LVM volume group"
    ISCSI = "iscsi", "iSCSI target (kernel initiator)"
    ISCSI_DIRECT = "iscsi-direct", "iSCSI target (QEMU's initiator)"
    RBD = "rbd", "Ceph RBD"
    DISK = "disk", "Whole disk"


class SourceFormat(models.TextChoices):
    """What a netfs pool mounts: an NFS export or a GlusterFS volume (FUSE)."""

    NFS = "nfs", "NFS"
    GLUSTERFS = "glusterfs", "GlusterFS"


# Pool types whose storage several hosts can see at once (live migration without copy).
SHAREABLE_POOL_TYPES = (PoolType.NETFS, PoolType.ISCSI, PoolType.ISCSI_DIRECT, PoolType.RBD)
# Pools whose volumes are a target's LUNs: libvirt lists them but cannot create any; a LUN is
# used by mapping it to a project (raw device mapping), as a disk or passed through as SCSI.
LUN_POOL_TYPES = (PoolType.ISCSI, PoolType.ISCSI_DIRECT)
# libvirt's name for a LUN in an iSCSI pool: unit:<bus>:<target>:<lun>.
LUN_NAME = re.compile(r"^unit:\d+:\d+:\d+$")


# The start of a pool's state_reason when a guest's disk on it failed a read or write
# (storage.tasks.outage): such pools come back by themselves once their storage answers.
POOL_IO_ERROR = "I/O error"
# The start of a LUN pool's state_reason when its array did not answer the periodic probe at all
# (storage.tasks.reachability): such pools come back by themselves once it answers.
POOL_UNREACHABLE = "Unreachable"


class PoolState(models.TextChoices):
    DEFINING = "defining", "Defining"
    INACTIVE = "inactive", "Inactive"
    ACTIVE = "active", "Active"
    ERROR = "error", "Error"
    DELETING = "deleting", "Deleting"


class VolumeFormat(models.TextChoices):
    QCOW2 = "qcow2", "qcow2"
    RAW = "raw", "raw"


class Provisioning(models.TextChoices):
    THIN = "thin", "Thin (sparse)"
    THICK = "thick", "Thick (preallocated)"


class VolumeSource(models.TextChoices):
    EMPTY = "empty", "Empty"
    IMAGE = "image", "Image"
    VOLUME = "volume", "Volume"
    SNAPSHOT = "snapshot", "Snapshot"
    DEVICE = "device", "Host block device (raw device mapping)"


class CloneMode(models.TextChoices):
    FULL = "full", "Full copy"
    LINKED = "linked", "Linked clone (qcow2 backing file)"


class VolumeState(models.TextChoices):
    CREATING = "creating", "Creating"
    AVAILABLE = "available", "Available"
    IN_USE = "in-use", "In use"
    BUSY = "busy", "Busy"  # a task owns it: attach, resize, snapshot, merge, move ...
    ERROR = "error", "Error"
    DELETING = "deleting", "Deleting"


class DiskBus(models.TextChoices):
    VIRTIO = "virtio", "virtio"
    SCSI = "scsi", "virtio-scsi"


class DiskCache(models.TextChoices):
    NONE = "none", "none (O_DIRECT)"
    WRITEBACK = "writeback", "writeback"
    WRITETHROUGH = "writethrough", "writethrough"
    DIRECTSYNC = "directsync", "directsync"


class DiscardMode(models.TextChoices):
    UNMAP = "unmap", "unmap (pass TRIM to the storage)"
    IGNORE = "ignore", "ignore"


class DeviceType(models.TextChoices):
    DISK = "disk", "Disk (block device as a virtual disk)"
    LUN = "lun", "LUN (SCSI pass-through)"


class SnapshotKind(models.TextChoices):
    INTERNAL = "internal", "Internal (inside the qcow2 file)"
    EXTERNAL = "external", "External (new overlay file)"


class SnapshotState(models.TextChoices):
    CREATING = "creating", "Creating"
    AVAILABLE = "available", "Available"
    BUSY = "busy", "Busy"
    ERROR = "error", "Error"
    DELETING = "deleting", "Deleting"


class Action(models.TextChoices):
    """Operation kinds are "<model>.<action>"."""

    DEFINE = "define", "Define"
    START = "start", "Start"
    REFRESH = "refresh", "Refresh"
    STOP = "stop", "Stop"
    CREATE = "create", "Create"
    DELETE = "delete", "Delete"
    ATTACH = "attach", "Attach"
    DETACH = "detach", "Detach"
    RESIZE = "resize", "Resize"
    SNAPSHOT = "snapshot", "Snapshot"
    REVERT = "revert", "Revert"
    MERGE = "merge", "Delete with merge"
    FLATTEN = "flatten", "Flatten"
    MIGRATE = "migrate", "Move to another pool"
    RECLAIM = "reclaim", "Reclaim space"
    UPLOAD = "upload", "Upload data"
    DOWNLOAD = "download", "Download data"
