"""VM-level HA for hung guests (vSphere's VM monitoring): a protected instance whose QEMU guest
agent stops answering while its domain runs is reset, within the cluster's restart limit.

Only a guest whose agent has answered once is judged (one without an agent, or whose agent has
not started yet, cannot be told from a hung one). `vm_heartbeat_misses` pings in a row that
fail while libvirt says the domain runs count as a hang; any answer, or a domain not running
(paused, stopped: the crash path handles those), starts the count again. The counts live in
the cache (Redis in a fleet), like the host probes' witness. The task pings (tasks.py); this
module gets the verdicts.
"""

from django.core.cache import cache

from compute.models import HaPriority
from compute.services import instances as compute_services
from portal import operations
from portal.errors import ActionError
from scheduler import choices as c
from scheduler import conf, ha_events, snapshot
from scheduler.tasks import failover

KEY = "nubes:ha:guest:{}"
KEEP_S = 24 * 3600


class Verdict:
    ANSWERED = "answered"  # the agent answered the ping
    SILENT = "silent"  # no answer (timeout, channel gone) while the domain runs
    NOT_RUNNING = "not-running"  # paused, stopped, crashed: not a hang
    NO_AGENT = "no-agent"  # the domain has no agent channel, or it never connected


def protected(instance):
    """Is the instance watched: HA on for its cluster, its own HA not disabled."""
    host = instance.host
    if host is None or instance.ha_priority == HaPriority.DISABLED:
        return False
    return snapshot.settings_for(host.cluster).ha_enabled


def record(instance, verdict, detail=""):
    """Take one ping's verdict; reset the guest when it makes a hang. Returns the reset's
    Operation, or None."""
    key = KEY.format(instance.pk)
    state = cache.get(key) or {"seen": False, "missed": 0}
    if verdict == Verdict.ANSWERED:
        cache.set(key, {"seen": True, "missed": 0}, KEEP_S)
        return None
    if verdict != Verdict.SILENT or not state["seen"]:
        cache.set(key, {"seen": state["seen"] and verdict != Verdict.NOT_RUNNING, "missed": 0}, KEEP_S)
        return None
    missed = state["missed"] + 1
    if missed < conf.vm_heartbeat_misses():
        cache.set(key, {"seen": True, "missed": missed}, KEEP_S)
        return None
    # Judged: start over (the guest must answer again before it is judged again).
    cache.set(key, {"seen": False, "missed": 0}, KEEP_S)
    return _reset(instance, f"no guest-agent heartbeat for {missed} pings while running{_tail(detail)}")


def _tail(detail):
    return f" ({detail})" if detail else ""


def _reset(instance, cause):
    host = instance.host
    if not failover.restart_budget_left(instance, cause):
        return None
    try:
        op = compute_services.reset_after_hang(instance, f"HA: {cause}")
    except (ActionError, operations.TargetBusy) as exc:
        ha_events.record(host.cluster_id, c.HaEventKind.VM_HUNG, f"{instance.name}: {cause}; not reset: {exc}")
        return None
    ha_events.record(
        host.cluster_id, c.HaEventKind.VM_HUNG, f"{instance.name}: {cause}", host=host, instance=instance, operation=op
    )
    return op
