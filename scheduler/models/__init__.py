from scheduler.models.ha import HaEvent, HostPower
from scheduler.models.power import PowerDriverConfig
from scheduler.models.recommendations import Recommendation
from scheduler.models.rules import AffinityRule, ServerGroup
from scheduler.models.settings import ClusterSchedulerSettings

__all__ = [
    "AffinityRule",
    "ClusterSchedulerSettings",
    "HaEvent",
    "HostPower",
    "PowerDriverConfig",
    "Recommendation",
    "ServerGroup",
]
