from compute.models.catalog import Flavor, Image, KeyPair
from compute.models.devices import DeviceKind, HostDevice  # noqa: F401
from compute.models.infrastructure import Cluster, Host
from compute.models.instances import HaPriority, Instance, InstanceEvent, UnmanagedDomain
from compute.models.metrics import Alarm, AlarmRule, HostSample, InstanceSample, MetricCursor  # noqa: F401
from compute.models.migration import Migration, MigrationPhase, MigrationState  # noqa: F401

__all__ = [
    "Cluster",
    "Flavor",
    "HaPriority",
    "Host",
    "Image",
    "Instance",
    "InstanceEvent",
    "KeyPair",
    "UnmanagedDomain",
]
