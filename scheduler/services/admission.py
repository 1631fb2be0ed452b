"""HA admission control: does starting or creating an instance keep the failover capacity?"""

from compute.choices import HostState
from compute.models import Host, Instance
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

    view, new, index = _admission_view(instance_or_flavor, cluster)
    result = _admitted(view, new, index, waking)
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


def standby_to_admit(instance_or_flavor, cluster):
    """DPM wake-on-demand for failover capacity: when admission control refuses to start (or
    create) this as the cluster is, the standby host whose waking would let it through (the
    lowest id of those that would); None when it is admitted as things are, or no host helps.
    Records nothing: the caller's check_admission does, with the host it chose."""
    view, new, index = _admission_view(instance_or_flavor, cluster)
    if _admitted(view, new, index).allowed:
        return None
    standby = Host.objects.filter(cluster=cluster, state=HostState.STANDBY).order_by("pk")
    return next((h for h in standby if _admitted(view, new, index, h).allowed), None)


def _admission_view(instance_or_flavor, cluster):
    view = snapshot.build(cluster, running_only=True)
    if isinstance(instance_or_flavor, Instance):
        new = snapshot.instance_snapshot(instance_or_flavor, placed=False)
    else:
        new = snapshot.flavor_snapshot(instance_or_flavor)
    return view, new, index_for(view.snapshot, view.policy)


def _admitted(view, new, index, waking=None):
    if waking is not None:
        index = index.copy()
        index.set_host_state(str(waking.pk), core_model.HostPowerState.UP)
    return core_ha.admission_check(view.snapshot, view.policy, new, index=index)


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
