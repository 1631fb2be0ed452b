"""HA verbs: heartbeats, isolation, fencing, restarts by priority.

A host that misses heartbeats for the cluster's isolation time is fenced through its power
driver; only after the driver confirms it is off do its HA instances restart elsewhere,
highest priority first, through placement and compute's migration contract with the
source marked fenced. A failed fence restarts nothing: shared disks must never be written
by two hosts. Liveness probes are the heartbeat task's (ha.py); this module gets their verdict.

VM-level HA (restart_crashed): an HA instance that stopped or crashed without Nubes asking
(compute sends `hooks.instance_stopped_unexpectedly`) is started again on its host, at most
the cluster's restart limit times within its restart window.
"""

import logging

from celery import shared_task
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from compute import domain as compute_domain
from compute.choices import EventSource, HostState
from compute.models import HaPriority, Host, Instance
from compute.services import instances as compute_services
from network.services import liveness as ovn_liveness
from portal import operations
from portal.errors import ActionError
from portal.tasks import run_operation
from scheduler import choices as c
from scheduler import conf, ha_events, snapshot, witness
from scheduler.core import ha as core_ha
from scheduler.models import HaEvent, HostPower, Recommendation
from scheduler.power import PowerError
from scheduler.tasks import power as power_tasks
from scheduler.tasks import recommendations

log = logging.getLogger(__name__)
FAILOVER_KIND = "host.failover"


@shared_task(bind=True, name="scheduler.tasks.failover_host")
def failover_host(self, op_id):
    def work(op):
        return fail_over(Host.objects.select_related("cluster").get(pk=op.target_id), op)

    return run_operation(op_id, work, self.request.id or "")


def event(host, kind, detail="", instance=None, operation=None):
    return ha_events.record(host.cluster_id, kind, detail, host=host, instance=instance, operation=operation)


def record_heartbeat(host, alive, error="", now=None, worker=None):
    """Note one probe of the host by `worker` (this process by default). Returns the failover
    Operation it started, or None."""
    now = now or timezone.now()
    with transaction.atomic():
        HostPower.objects.get_or_create(host=host)
        power = HostPower.objects.select_for_update().get(host=host)
        if alive:
            _alive(host, power, now)
            return None
        power.missed_heartbeats += 1
        power.missing_since = power.missing_since or now
        power.last_error = error[:500]
        if power.missed_heartbeats == 1:
            event(host, c.HaEventKind.HEARTBEAT_MISSED, error)
        if power.ha_state == c.HaState.HEALTHY:
            power.ha_state = c.HaState.MISSING
        power.save()
    settings = snapshot.settings_for(host.cluster)
    missing_s = (now - power.missing_since).total_seconds()
    if not settings.ha_enabled or missing_s < settings.ha_isolation_s:
        return None
    if power.ha_state not in (c.HaState.MISSING, c.HaState.FENCE_FAILED):
        return None
    opinion, other = witness.second_opinion(host, settings.ha_isolation_s, worker=worker, now=now)
    if opinion == "alive":
        # This worker is the one cut off: fencing a healthy host would be the outage.
        if cache.add(f"nubes:ha:veto:{host.pk}", 1, timeout=settings.ha_isolation_s):  # once per isolation time
            event(host, c.HaEventKind.HEARTBEAT_MISSED, f"not declared dead: {other} still reaches it")
        return None
    if opinion is None:
        waited_for, silent_s = witness.awaited(host, settings.ha_isolation_s, worker=worker, now=now)
        if waited_for:
            # Another worker probed it lately and was asked again (ha.ask_others): its verdict, not
            # this worker's alone, decides, unless it stays silent for twice the isolation time.
            if cache.add(f"nubes:ha:await:{host.pk}", 1, timeout=settings.ha_isolation_s):
                event(
                    host,
                    c.HaEventKind.HEARTBEAT_MISSED,
                    f"not declared dead yet: waiting for {waited_for}'s probe (last heard {silent_s:.0f} s ago)",
                )
            return None
        alone = "no other worker probed it" if silent_s is None else f"every other worker silent for {silent_s:.0f} s"
        ovn = ovn_signal(host)
        if ovn.verdict == ovn_liveness.ALIVE:
            # The host's ovn-controller still keeps up with the central databases: the host runs,
            # this worker is the one cut off from it.
            if cache.add(f"nubes:ha:ovn-veto:{host.pk}", 1, timeout=settings.ha_isolation_s):
                event(
                    host, c.HaEventKind.HEARTBEAT_MISSED, f"not declared dead: OVN still hears from it ({ovn.detail})"
                )
            return None
        if ovn.verdict == ovn_liveness.DEAD:
            opinion, other = "dead", f"OVN ({ovn.detail})"
        else:
            alone += f"; OVN cannot tell ({ovn.detail})"
    second = f"confirmed by {other}" if opinion == "dead" else f"judged by one worker: {alone}"
    return start_failover(
        host, f"no heartbeat for {missing_s:.0f} s (isolation time {settings.ha_isolation_s} s); {second}"
    )


def ovn_signal(host):
    """The OVN chassis signal (network/ovn/liveness.py): alive / dead / unknown, asked within the
    probe timeout through the central OVN databases, not through this worker's link to the host."""
    return ovn_liveness.host_chassis_liveness(host, conf.ha_probe_timeout_s())


def _alive(host, power, now):
    if power.ha_state == c.HaState.MISSING:
        event(host, c.HaEventKind.RECOVERED, f"heartbeat back after {power.missed_heartbeats} missed")
    waking = power.power_state == c.PowerState.WAKING
    power.last_heartbeat, power.missed_heartbeats, power.missing_since = now, 0, None
    power.ha_state, power.last_error = c.HaState.HEALTHY, ""
    if power.power_state in (c.PowerState.UNKNOWN, c.PowerState.OFF):
        power.power_state = c.PowerState.ON
    power.save()
    if waking:
        transaction.on_commit(lambda: power_tasks.mark_awake(host))


def start_failover(host, reason):
    event(host, c.HaEventKind.ISOLATED, reason)
    try:
        with transaction.atomic():
            op = operations.begin(FAILOVER_KIND, host, project=None, detail={"reason": reason})
            operations.send_after_commit(failover_host, op)
    except operations.TargetBusy as exc:
        log.info("failover of %s not started: %s", host, exc)
        return None
    return op


def fence(host, op=None):
    """Power the host off and read back that it is off: the precondition of every restart.
    Returns the core's FenceOutcome and the driver's error ("" on success)."""
    now = timezone.now()
    try:
        method = power_tasks.power_off(host, verify=True)
    except PowerError as exc:
        HostPower.objects.filter(host=host).update(ha_state=c.HaState.FENCE_FAILED, last_error=str(exc)[:500])
        event(host, c.HaEventKind.FENCE_FAILED, str(exc), operation=op)
        return core_ha.FenceOutcome(str(host.pk), core_ha.FenceStatus.FAILED, "", now.timestamp()), str(exc)
    HostPower.objects.filter(host=host).update(ha_state=c.HaState.FENCED)
    event(host, c.HaEventKind.FENCED, f"powered off through {method}", operation=op)
    return core_ha.FenceOutcome(str(host.pk), core_ha.FenceStatus.SUCCEEDED, method, now.timestamp()), ""


def fail_over(host, op):
    """Fence, then restart the host's HA instances elsewhere by priority (the task's work).

    Restarts onto powered-on hosts start at once; standby hosts the plan wakes are woken one
    after another (the highest priority's first) through DPM's wake path, and their restarts
    start once each is up. A wake that fails restarts nothing there: the instances get an HA
    event naming the host and why."""

    outcome, error = fence(host, op)
    try:
        core_ha.require_fenced(str(host.pk), outcome)
    except core_ha.NotFenced as exc:
        raise ActionError(
            f"Fencing {host.name} failed ({error}): no instance is restarted elsewhere while "
            "it may still be writing its disks."
        ) from exc
    power_tasks.set_host_state(host, HostState.DOWN, "fenced by HA: no heartbeat")
    view = snapshot.build(host.cluster)
    plan = core_ha.plan_restarts(str(host.pk), view.snapshot, view.policy, outcome)
    waiting = {hid: [m for m in plan.restarts if m.target_host == hid] for hid in plan.wakes}
    now = [m for m in plan.restarts if m.target_host not in waiting]
    wake_note = (
        f"; {sum(map(len, waiting.values()))} wait for standby host(s) "
        f"{', '.join(view.hosts[hid].name for hid in plan.wakes)} to wake"
        if waiting
        else ""
    )
    _restart(
        host,
        view,
        now,
        f"HA restart of {len(now)} instance(s) of {host.name}; {len(plan.unplaced)} "
        f"without a host, {len(plan.not_protected)} not protected{wake_note}",
        unplaced=plan.unplaced,
    )
    started = len(now)
    for host_id, moves in waiting.items():
        target = Host.objects.get(pk=int(host_id))
        try:
            power_tasks.wake_for_request(target, op)
        except ActionError as exc:
            for move in moves:
                instance = view.instances[move.instance_id]
                event(host, c.HaEventKind.NO_HOST, f"{instance.name}: {exc}", instance=instance, operation=op)
            continue
        started += _restart(
            host,
            view,
            moves,
            f"HA restart of {len(moves)} instance(s) of {host.name} on {target.name}, woken from standby",
        )
    return f"{host.name} fenced ({outcome.method}); {started} restart(s) started"


def _restart(host, view, moves, summary, unplaced=()):
    """One HA recommendation: start the restarts, note what has no host. Returns how many started."""
    started = 0
    with transaction.atomic():
        rec = Recommendation.objects.create(
            cluster=host.cluster,
            kind=c.RecommendationKind.HA,
            state=c.RecommendationState.APPROVED,
            automatic=True,
            decided=timezone.now(),
            moves=recommendations.move_rows(view, moves),
            summary=summary[:500],
        )
        for move in moves:
            instance = Instance.objects.select_related("project", "host", "flavor").get(pk=int(move.instance_id))
            target = Host.objects.get(pk=int(move.target_host))
            try:
                restart = recommendations.restart_elsewhere(
                    instance, target, reason=f"HA restart after {host.name} was fenced"
                )
            except (ActionError, operations.TargetBusy) as exc:
                rec.error = f"{rec.error}; {instance.name}: {exc}".strip("; ")[:10000]
                event(host, c.HaEventKind.NO_HOST, f"{instance.name}: {exc}", instance=instance)
                continue
            started += 1
            rec.operations.add(restart)
            event(
                host,
                c.HaEventKind.RESTART,
                f"{instance.name} -> {target.name} ({move.explanation})",
                instance=instance,
                operation=restart,
            )
        for result in unplaced:
            event(host, c.HaEventKind.NO_HOST, result.explain(), instance=view.instances[result.instance_id])
        rec.save()
        recommendations.finalize(rec.pk)
    return started


# --- VM-level HA ---------------------------------------------------------------------------


def restart_crashed(instance, cause, now=None):
    """Restart an HA instance that stopped unexpectedly, within the restart limit per window.
    Returns the start Operation, or None (not protected, HA off, limit reached, refused)."""

    host = instance.host
    if host is None or instance.ha_priority == HaPriority.DISABLED:
        return None
    if not snapshot.settings_for(host.cluster).ha_enabled:
        return None
    if not restart_budget_left(instance, cause, now):
        return None
    try:
        op = compute_services.restart_after_failure(instance, f"HA: {cause}")
    except (ActionError, operations.TargetBusy) as exc:
        log.info("VM-level HA did not restart %s: %s", instance, exc)
        return None
    event(host, c.HaEventKind.VM_RESTART, f"{instance.name}: {cause}", instance=instance, operation=op)
    return op


VM_RESTART_KINDS = (c.HaEventKind.VM_RESTART, c.HaEventKind.VM_HUNG)


def restart_budget_left(instance, cause, now=None):
    """Within the cluster's restart limit per window (crash restarts and hang resets count
    together)? When not, record why (HA event, instance event) and answer False."""
    host = instance.host
    settings = snapshot.settings_for(host.cluster)
    now = now or timezone.now()
    earlier = HaEvent.objects.filter(instance=instance, kind__in=VM_RESTART_KINDS, operation__isnull=False)
    times = [t.timestamp() for t in earlier.values_list("created", flat=True)]
    if core_ha.restart_allowed(times, now.timestamp(), settings.policy()):
        return True
    why = (
        f"{settings.ha_restart_limit} restart(s) within {settings.ha_restart_window_s} s already; "
        f"left as it is after: {cause}"
    )
    event(host, c.HaEventKind.RESTART_LIMIT, why, instance=instance)
    compute_domain.record_event(instance, EventSource.ACTION, "ha restart limit", why)
    return False
