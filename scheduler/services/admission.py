"""HA admission control: does starting or creating an instance keep the failover capacity?"""

from compute.models import Instance
from portal.errors import ActionError
from scheduler import choices as c
from scheduler import ha_events, snapshot
from scheduler.core import ha as core_ha
from scheduler.core import model as core_model
from scheduler.core.state import index_for


def check_admission(instance_or_flavor, cluster, waking=None):
    """Would starting (or creating) this keep the cluster's HA failover capacity?

    Raises ActionError with the reason when it would not; returns the core's result.
    Counts only running instances, like vSphere: a shut-off one claims nothing.
    `waking`: a standby host woken for this request, counted as up.
    """

    view = snapshot.build(cluster, running_only=True)
    if isinstance(instance_or_flavor, Instance):
        new = snapshot.instance_snapshot(instance_or_flavor, placed=False)
    else:
        new = snapshot.flavor_snapshot(instance_or_flavor)
    index = index_for(view.snapshot, view.policy)
    if waking is not None:
        index = index.copy()
        index.set_host_state(str(waking.pk), core_model.HostPowerState.UP)
    result = core_ha.admission_check(view.snapshot, view.policy, new, index=index)
    if not result.allowed:
        what = (
            instance_or_flavor.name
            if isinstance(instance_or_flavor, Instance)
            else f"a new instance of flavor {instance_or_flavor.name}"
        )
        ha_events.record(
            cluster.pk,
            c.HaEventKind.ADMISSION_REFUSED,
            f"{what}: {result.reason}",
            instance=instance_or_flavor if isinstance(instance_or_flavor, Instance) else None,
        )
        raise ActionError(f"HA admission control of cluster {cluster.name} refuses this: {result.reason}.")
    return result


def admission_status(cluster):
    """The cluster's failover capacity as admission control sees it (for status pages)."""
    view = snapshot.build(cluster, running_only=True)
    result = core_ha.admission_check(view.snapshot, view.policy)
    return {
        "allowed": result.allowed,
        "reason": result.reason,
        "cpu_claimed_mhz": round(result.cpu_needed_mhz),
        "cpu_limit_mhz": round(result.cpu_limit_mhz),
        "memory_claimed_mb": round(result.memory_needed_mb),
        "memory_limit_mb": round(result.memory_limit_mb),
    }
