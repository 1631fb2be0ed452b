"""Named constants of the compute app: states, kinds and the numbers behind them."""

from django.db import models

DOMAIN_PREFIX = "nubes-"
ROOT_VOLUME_SUFFIX = "-root"
DEFAULT_POOL = "default"
MIB_PER_GIB = 1024
KIB_PER_MIB = 1024
BYTES_PER_GIB = 1024**3

# Cluster overcommit defaults (vSphere / Nova): CPU 4.0, RAM 1.0, disk 1.0.
DEFAULT_CPU_OVERCOMMIT = 4.0
DEFAULT_RAM_OVERCOMMIT = 1.0
DEFAULT_DISK_OVERCOMMIT = 1.0

# Domain XML defaults.
CPU_PERIOD_US = 100_000  # CFS period; a limit of N % of a core is a quota of N * 1000 us
CPU_SHARES_DEFAULT = 1024
BALLOON_STATS_PERIOD_S = 10
VCPU_HOTPLUG_HEADROOM = 2  # domains may grow to this many times their vCPUs live
SHUTDOWN_TIMEOUT_S = 60.0
VNC_PASSWORD_BYTES = 12  # token_urlsafe(12) = 16 characters; VNC uses the first 8
MAX_NAME_LENGTH = 63
MAX_USER_DATA_BYTES = 64 * 1024


class HostState(models.TextChoices):
    UP = "up", "Up"
    DOWN = "down", "Down"
    MAINTENANCE = "maintenance", "Maintenance"
    STANDBY = "standby", "Standby"
    ERROR = "error", "Error"


class InstanceState(models.TextChoices):
    BUILDING = "building", "Building"
    ACTIVE = "active", "Active"
    SHUTOFF = "shutoff", "Shut off"
    PAUSED = "paused", "Paused"
    SUSPENDED = "suspended", "Suspended"
    ERROR = "error", "Error"
    DELETING = "deleting", "Deleting"
    DELETED = "deleted", "Deleted"


# Instances that hold capacity on their host (placement counts them).
PLACED_STATES = (
    InstanceState.BUILDING,
    InstanceState.ACTIVE,
    InstanceState.SHUTOFF,
    InstanceState.PAUSED,
    InstanceState.SUSPENDED,
    InstanceState.ERROR,
)
# States the reconciler leaves alone: a task owns the instance then.
TRANSIENT_STATES = (InstanceState.BUILDING, InstanceState.DELETING, InstanceState.DELETED)


class PowerState(models.TextChoices):
    """libvirt's view, as the gateway names it (hypervisor.types)."""

    NOSTATE = "nostate", "No state"
    RUNNING = "running", "Running"
    BLOCKED = "blocked", "Blocked"
    PAUSED = "paused", "Paused"
    SHUTDOWN = "shutdown", "Shutting down"
    SHUTOFF = "shutoff", "Shut off"
    CRASHED = "crashed", "Crashed"
    PMSUSPENDED = "pmsuspended", "Suspended by the guest"
    SUSPENDED = "suspended", "Saved to disk"
    VANISHED = "vanished", "Vanished from its host"


# The start of a paused instance's state_reason when its guest stopped on a disk's I/O error
# (error_policy stop); storage resumes such instances once their pools answer again.
IO_ERROR_PAUSE = "Paused on a storage I/O error"
# The start of a running instance's state_reason while a pool holding one of its disks does not
# answer at all (a whole iSCSI target gone: QEMU gets no error, so it pauses nothing and the
# guest's I/O waits); storage sets and clears it (storage.tasks.reachability).
IO_STALL = "I/O stalled"

# libvirt's power state -> the instance state it implies.
STATE_FOR_POWER = {
    PowerState.RUNNING: InstanceState.ACTIVE,
    PowerState.BLOCKED: InstanceState.ACTIVE,
    PowerState.SHUTDOWN: InstanceState.ACTIVE,
    PowerState.PAUSED: InstanceState.PAUSED,
    PowerState.PMSUSPENDED: InstanceState.PAUSED,
    PowerState.SHUTOFF: InstanceState.SHUTOFF,
    PowerState.CRASHED: InstanceState.ERROR,
    PowerState.SUSPENDED: InstanceState.SUSPENDED,
    PowerState.NOSTATE: InstanceState.ERROR,
}


class CpuPolicy(models.TextChoices):
    SHARED = "shared", "Shared"
    DEDICATED = "dedicated", "Dedicated (pinned)"


class DiskBus(models.TextChoices):
    VIRTIO = "virtio", "virtio"
    SCSI = "scsi", "virtio-scsi"
    SATA = "sata", "SATA"


class WatchdogAction(models.TextChoices):
    NONE = "", "No watchdog"
    RESET = "reset", "Reset"
    POWEROFF = "poweroff", "Power off"
    PAUSE = "pause", "Pause"


class Visibility(models.TextChoices):
    PUBLIC = "public", "Public"
    PROJECT = "project", "Project"


class ImageFormat(models.TextChoices):
    QCOW2 = "qcow2", "qcow2"
    RAW = "raw", "raw"


class ImageState(models.TextChoices):
    QUEUED = "queued", "Queued"
    SAVING = "saving", "Saving"
    ACTIVE = "active", "Active"
    ERROR = "error", "Error"


class OsType(models.TextChoices):
    LINUX = "linux", "Linux"
    WINDOWS = "windows", "Windows"
    OTHER = "other", "Other"


class RebootKind(models.TextChoices):
    SOFT = "soft", "Soft (ACPI)"
    HARD = "hard", "Hard (reset)"


class EventSource(models.TextChoices):
    ACTION = "action", "Action"
    LIBVIRT = "libvirt", "libvirt event"
    RECONCILER = "reconciler", "Reconciler"


# The actions, each an Operation kind "instance.<action>".
class Action(models.TextChoices):
    CREATE = "create", "Create"
    START = "start", "Start"
    STOP = "stop", "Stop"
    REBOOT = "reboot", "Reboot"
    SUSPEND = "suspend", "Suspend"
    RESUME = "resume", "Resume"
    PAUSE = "pause", "Pause"
    UNPAUSE = "unpause", "Unpause"
    RESIZE = "resize", "Resize"
    RENAME = "rename", "Rename"
    REBUILD = "rebuild", "Rebuild"
    DELETE = "delete", "Delete"
    SET_BALLOON = "set_balloon", "Set balloon"
    SET_CPU_QOS = "set_cpu_qos", "Set CPU QoS"
    CREATE_IMAGE = "create_image", "Create image"


# Which instance states each simple action starts from.
ALLOWED_FROM = {
    Action.START: (InstanceState.SHUTOFF,),
    Action.STOP: (InstanceState.ACTIVE, InstanceState.PAUSED, InstanceState.ERROR),
    Action.REBOOT: (InstanceState.ACTIVE,),
    Action.SUSPEND: (InstanceState.ACTIVE,),
    Action.RESUME: (InstanceState.SUSPENDED,),
    Action.PAUSE: (InstanceState.ACTIVE,),
    Action.UNPAUSE: (InstanceState.PAUSED,),
    Action.REBUILD: (InstanceState.ACTIVE, InstanceState.SHUTOFF, InstanceState.ERROR),
    Action.SET_BALLOON: (InstanceState.ACTIVE, InstanceState.SHUTOFF, InstanceState.PAUSED),
    Action.SET_CPU_QOS: (InstanceState.ACTIVE, InstanceState.SHUTOFF, InstanceState.PAUSED),
    # Nova's createImage: a running or paused disk is mirrored, a stopped or suspended one cloned.
    Action.CREATE_IMAGE: (InstanceState.ACTIVE, InstanceState.SHUTOFF, InstanceState.PAUSED, InstanceState.SUSPENDED),
}
STOP_TIMEOUT_MAX_S = 600
