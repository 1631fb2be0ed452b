from compute.models.catalog import Flavor, Image, KeyPair
from compute.models.infrastructure import Cluster, Host
from compute.models.instances import HaPriority, Instance, InstanceEvent, UnmanagedDomain

__all__ = ["Cluster", "Flavor", "HaPriority", "Host", "Image", "Instance", "InstanceEvent", "KeyPair", "UnmanagedDomain"]
