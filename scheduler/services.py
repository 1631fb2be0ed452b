"""The scheduler's verbs: run DRS / DPM, decide and apply recommendations, power hosts,
admission control, EVC. HA (heartbeats, fencing, restarts) is in `failover.py`.

The scheduler plans, compute acts: migrations go through compute's migration contract
(`compute.migration.start_migration`), host states through `compute.services.set_host_state`.
Hypervisor calls (liveness probes, CPU baselines) happen in tasks.py only.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from compute.choices import PLACED_STATES, HostState, InstanceState
from compute.models import Host, Instance
from compute.services import instances as compute_services
from compute.services import migration
from portal import audit, operations
from portal.choices import OperationStatus
from portal.errors import ActionError, Conflict
from scheduler import choices as c
from scheduler import conf, ha_events, snapshot, tasks
from scheduler.core import dpm as core_dpm
from scheduler.core import drs as core_drs
from scheduler.core import ha as core_ha
from scheduler.core import model as core_model
from scheduler.core.state import index_for
from scheduler.models import HostPower, PowerDriverConfig, Recommendation
from scheduler.power import Credentials, PowerError, PowerStatus, driver_for

log = logging.getLogger(__name__)
RS = c.RecommendationState
POWER_OP_PREFIX = "host."
COPY_STORAGE = "copy_storage"
AUTO_CONVERGE = "auto_converge"


# --- settings ------------------------------------------------------------------------------


def update_settings(user, cluster, request=None, **fields):
    settings = snapshot.settings_for(cluster)
    for name, value in fields.items():
        setattr(settings, name, value)
    settings.full_clean()
    settings.save()
    audit.record(user, "scheduler.settings", cluster, request=request, **{k: str(v) for k, v in fields.items()})
    return settings


# --- measuring -----------------------------------------------------------------------------


def measure_imbalance(cluster):
    """The imbalance of the cluster as it is now (standard deviation of host loads)."""
    view = snapshot.build(cluster)
    index = index_for(view.snapshot, view.policy)
    return core_drs.imbalance(list(core_drs.host_loads(index).values()))


# --- running the planners ------------------------------------------------------------------


@dataclass
class RunOutcome:
    recommendation: Recommendation | None
    message: str
    imbalance: float | None = None


def _busy(cluster, kind):
    return Recommendation.objects.filter(cluster=cluster, kind=kind, state=RS.APPROVED).exists()


def run_drs(cluster, user=None, request=None):
    """Plan DRS moves for the cluster; a proposal (or, fully automated, an applying one)."""
    expire_stale(cluster)
    view = snapshot.build(cluster)
    settings = view.settings
    type(settings).objects.filter(pk=settings.pk).update(drs_last_run=timezone.now())
    if not settings.drs_enabled:
        return RunOutcome(None, "DRS is disabled for this cluster.")
    if _busy(cluster, c.RecommendationKind.DRS):
        return RunOutcome(None, "A DRS recommendation is being applied; planning waits for it.")
    result = core_drs.recommend(view.snapshot, view.policy)
    if not result.moves:
        _supersede(cluster, c.RecommendationKind.DRS)
        why = "unresolved rule violations" if result.unresolved else "balanced within the threshold"
        return RunOutcome(None, f"No moves: {why} (imbalance {result.imbalance_before:.4f}).", result.imbalance_before)
    with transaction.atomic():
        rec = Recommendation.objects.create(
            cluster=cluster,
            kind=c.RecommendationKind.DRS,
            moves=_moves(view, result.moves),
            expected_benefit=sum(m.benefit for m in result.moves),
            imbalance_before=result.imbalance_before,
            imbalance_predicted=result.imbalance_after,
            created_by=_user(user),
            summary=f"{len(result.moves)} migration(s): imbalance {result.imbalance_before:.4f} -> "
            f"{result.imbalance_after:.4f} predicted"[:500],
        )
        _supersede(cluster, c.RecommendationKind.DRS, keep=rec.pk)
    audit.record(user, "scheduler.drs_run", cluster, request=request, recommendation=rec.pk)
    if settings.drs_automation == c.Automation.FULL:
        rec = approve(None, rec, automatic=True)
    return RunOutcome(rec, rec.summary, result.imbalance_before)


def run_dpm(cluster, user=None, request=None):
    """Plan DPM: evacuate and standby a host below the target range, wake hosts above it."""
    expire_stale(cluster)
    view = snapshot.build(cluster)
    settings = view.settings
    type(settings).objects.filter(pk=settings.pk).update(dpm_last_run=timezone.now())
    if not settings.dpm_enabled:
        return RunOutcome(None, "DPM is disabled for this cluster.")
    if _busy(cluster, c.RecommendationKind.DPM) or _busy(cluster, c.RecommendationKind.DRS):
        return RunOutcome(None, "A recommendation is being applied; DPM waits for it.")
    plan = core_dpm.plan(view.snapshot, view.policy, held=recently_woken(cluster))
    if not plan.power_actions:
        _supersede(cluster, c.RecommendationKind.DPM)
        notes = "; ".join(plan.notes) or "nothing to do"
        return RunOutcome(None, f"No power change: {notes} (utilisation {plan.utilisation_before:.0%}).")
    actions = [
        {"host": a.host_id, "host_name": view.hosts[a.host_id].name, "action": str(a.action), "reason": a.reason}
        for a in plan.power_actions
    ]
    with transaction.atomic():
        rec = Recommendation.objects.create(
            cluster=cluster,
            kind=c.RecommendationKind.DPM,
            moves=_moves(view, plan.moves),
            power_actions=actions,
            created_by=_user(user),
            summary=(
                ", ".join(f"{a['action']} {a['host_name']}" for a in actions)
                + f": utilisation {plan.utilisation_before:.0%} -> {plan.utilisation_after:.0%}"
            )[:500],
        )
        _supersede(cluster, c.RecommendationKind.DPM, keep=rec.pk)
    audit.record(user, "scheduler.dpm_run", cluster, request=request, recommendation=rec.pk)
    if settings.dpm_automation == c.Automation.FULL:
        rec = approve(None, rec, automatic=True)
    return RunOutcome(rec, rec.summary)


def recently_woken(cluster, now=None):
    """Ids of the cluster's hosts woken within the hold-down (NUBES_DPM_WAKE_HOLD)."""
    since = (now or timezone.now()) - timedelta(seconds=conf.dpm_wake_hold_s())
    woken = HostPower.objects.filter(host__cluster=cluster, woken__gte=since).values_list("host_id", flat=True)
    return frozenset(str(pk) for pk in woken)


def _moves(view, moves):
    rows = []
    for move in moves:
        instance = view.instances[move.instance_id]
        rows.append(
            {
                "instance": move.instance_id,
                "instance_name": instance.name,
                "source": move.source_host,
                "source_name": view.hosts[move.source_host].name if move.source_host else "",
                "target": move.target_host,
                "target_name": view.hosts[move.target_host].name,
                "reason": str(move.reason),
                "benefit": round(move.benefit, 6),
                "cost_s": round(move.cost_s, 2),
                "explanation": move.explanation,
            }
        )
    return rows


def _user(user):
    return user if user is not None and user.is_authenticated else None


def _supersede(cluster, kind, keep=None):
    stale = Recommendation.objects.filter(cluster=cluster, kind=kind, state=RS.PROPOSED)
    if keep is not None:
        stale = stale.exclude(pk=keep)
    stale.update(state=RS.SUPERSEDED, finished=timezone.now())


def expire_stale(cluster=None, now=None):
    """Proposals older than twice the cluster's DRS interval describe a past cluster."""
    now = now or timezone.now()
    proposals = Recommendation.objects.filter(state=RS.PROPOSED).select_related("cluster")
    if cluster is not None:
        proposals = proposals.filter(cluster=cluster)
    expired = [rec.pk for rec in proposals if _is_expired(rec, now)]
    Recommendation.objects.filter(pk__in=expired).update(state=RS.EXPIRED, finished=now)
    return len(expired)


def _is_expired(rec, now=None):
    ttl = snapshot.settings_for(rec.cluster).recommendation_ttl_s
    return rec.created + timedelta(seconds=ttl) < (now or timezone.now())


# --- deciding and applying -----------------------------------------------------------------


def reject(user, rec, request=None):
    with transaction.atomic():
        rec = Recommendation.objects.select_for_update().get(pk=rec.pk)
        if rec.state != RS.PROPOSED:
            raise Conflict(f"Recommendation {rec.pk} is {rec.state}; only a proposed one can be rejected.")
        _decide(rec, user, RS.REJECTED)
        rec.finished = rec.decided
        rec.save()
    audit.record(user, "scheduler.reject", rec.cluster, request=request, recommendation=rec.pk)
    return rec


def _decide(rec, user, state, automatic=False):
    rec.state = state
    rec.decided = timezone.now()
    rec.decided_by = _user(user)
    rec.automatic = automatic


def approve(user, rec, request=None, automatic=False):
    """Approve a proposal and start its migrations (and, after them, its power actions).

    A proposal past its time is expired, one whose instances moved meanwhile is superseded:
    both answer 409 and start nothing.
    """
    with transaction.atomic():
        rec = Recommendation.objects.select_for_update().select_related("cluster").get(pk=rec.pk)
        refusal = _refusal(rec)
        if refusal is None:
            _decide(rec, user, RS.APPROVED, automatic)
            rec.save()
            _start_moves(rec, user)
            if not rec.moves:
                _start_power_actions(rec, user)
            _finish_if_done(rec)
    if refusal is not None:
        raise Conflict(refusal)
    audit.record(user, "scheduler.approve", rec.cluster, request=request, recommendation=rec.pk, automatic=automatic)
    return rec


def _refusal(rec):
    """Why a recommendation cannot be approved now (and the state that says so), or None."""
    if rec.state != RS.PROPOSED:
        return f"Recommendation {rec.pk} is {rec.state}; only a proposed one can be approved."
    if _is_expired(rec):
        Recommendation.objects.filter(pk=rec.pk).update(state=RS.EXPIRED, finished=timezone.now())
        return f"Recommendation {rec.pk} expired; run DRS again for a current one."
    moved = _stale_moves(rec)
    if moved:
        Recommendation.objects.filter(pk=rec.pk).update(state=RS.SUPERSEDED, finished=timezone.now())
        return f"Recommendation {rec.pk} is superseded: {', '.join(moved)} no longer where it was planned from."
    return None


def _stale_moves(rec):
    hosts = dict(Instance.objects.filter(pk__in=[int(m["instance"]) for m in rec.moves]).values_list("pk", "host_id"))
    return [m["instance_name"] for m in rec.moves if str(hosts.get(int(m["instance"]))) != str(m["source"])]


def start_migration(instance, target_host, *, user=None, reason=""):
    """The one call into compute's migration contract (imported late: compute owns it).

    Live for a running instance, cold for a stopped one; the disk is copied along only when
    the target does not reach it (compute says so with an error on `copy_storage`).
    """

    live = instance.state in (InstanceState.ACTIVE, InstanceState.PAUSED)
    # A balancing move must finish: throttle a guest that dirties memory faster than the link
    # (vSphere's DRS does the same with its stun-during-page-send).
    options = {AUTO_CONVERGE: True} if live else {}
    try:
        return migration.start_migration(
            instance, target_host=target_host, user=user, live=live, options=options, reason=reason
        )
    except ActionError as exc:
        if getattr(exc, "field", None) != COPY_STORAGE:
            raise
    return migration.start_migration(
        instance, target_host=target_host, user=user, live=live, options={**options, COPY_STORAGE: True}, reason=reason
    )


def restart_elsewhere(instance, target_host, *, reason=""):
    """HA: start a fenced host's instance on `target_host` from its definition in the
    database, never touching the (powered-off) source. compute owns the verb."""

    restart_on = getattr(migration, "restart_on", None)
    if restart_on is None:
        raise ActionError("compute.migration.restart_on is not available: HA restarts need it.")
    return restart_on(instance, target_host, reason=reason)


def _start_moves(rec, user):
    errors = []
    for move in rec.moves:
        instance = Instance.objects.select_related("project", "host", "flavor").get(pk=int(move["instance"]))
        target = Host.objects.get(pk=int(move["target"]))
        try:
            op = start_migration(
                instance,
                target,
                user=_user(user),
                reason=f"{rec.kind} recommendation {rec.pk}: {move['explanation']}"[:500],
            )
        except (ActionError, operations.TargetBusy) as exc:
            errors.append(f"{move['instance_name']}: {exc}")
            continue
        rec.operations.add(op)
    if errors:
        rec.error = "; ".join(errors)[:10000]
        rec.save(update_fields=["error"])


def _start_power_actions(rec, user):
    for action in rec.power_actions:
        host = Host.objects.get(pk=int(action["host"]))
        try:
            op = request_power(user, host, action["action"], reason=f"DPM recommendation {rec.pk}")
        except (ActionError, operations.TargetBusy) as exc:
            rec.error = f"{rec.error}; {host.name}: {exc}".strip("; ")[:10000]
            continue
        action["operation"] = op.pk
        rec.operations.add(op)
    rec.save(update_fields=["power_actions", "error"])


def finalize(rec_pk):
    """Called when an operation of an approved recommendation finishes (signal) and by a
    sweep: start the power actions after the moves, then record the outcome and the
    imbalance measured on the cluster as it now is."""
    with transaction.atomic():
        rec = Recommendation.objects.select_for_update().select_related("cluster").filter(pk=rec_pk).first()
        if rec is None or rec.state != RS.APPROVED:
            return rec
        _finish_if_done(rec)
    return rec


def _finish_if_done(rec):
    ops = list(rec.operations.all())
    if any(op.is_active for op in ops):
        return
    failed = [op for op in ops if op.status != OperationStatus.SUCCEEDED]
    pending_power = [a for a in rec.power_actions if "operation" not in a]
    if not failed and not rec.error and pending_power:
        _start_power_actions(rec, rec.decided_by)
        if any(op.is_active for op in rec.operations.all()):
            return
        failed = [op for op in rec.operations.all() if op.status != OperationStatus.SUCCEEDED]
    rec.state = RS.FAILED if failed or rec.error else RS.APPLIED
    if failed:
        detail = "; ".join(f"{op.kind} {op.target_name}: {op.message or op.error}" for op in failed)
        rec.error = f"{rec.error}; {detail}".strip("; ")[:10000]
    if rec.kind == c.RecommendationKind.DRS or rec.moves:
        rec.imbalance_after = measure_imbalance(rec.cluster)
    rec.finished = timezone.now()
    rec.save()


def sweep():
    """Beat's fallback: expire old proposals, finish approved ones whose work is over."""
    expired = expire_stale()
    for pk in Recommendation.objects.filter(state=RS.APPROVED).values_list("pk", flat=True):
        finalize(pk)
    return expired


# --- power ---------------------------------------------------------------------------------


def power_driver(host):
    """(driver, config) for a host; a host without a config uses the simulated driver."""
    config = PowerDriverConfig.objects.filter(host=host).first() or PowerDriverConfig(host=host)
    credentials = Credentials(
        host_key=str(host.pk),
        address=config.address,
        port=config.port,
        username=config.username,
        password=config.password(),
    )
    return driver_for(config.kind, credentials), config


def configure_power(user, host, *, kind, address="", port=None, username="", password=None, request=None):
    config = PowerDriverConfig.objects.filter(host=host).first() or PowerDriverConfig(host=host)
    config.kind, config.address, config.port, config.username = kind, address.strip(), port, username
    if password is not None:
        config.set_password(password)
    config.full_clean()
    config.save()
    audit.record(user, "scheduler.power_config", host, request=request, kind=kind)  # never the password
    return config


def host_power(host):
    power, _ = HostPower.objects.get_or_create(host=host)
    return power


POWER_ACTIONS = tuple(c.PowerAction.values)


def request_power(user, host, action, *, reason="", request=None):
    """Queue a power action on a host as an Operation (one at a time per host)."""

    if action not in POWER_ACTIONS:
        raise ActionError(f"A power action is one of {', '.join(POWER_ACTIONS)}.", field="action")
    if action in (c.PowerAction.OFF, c.PowerAction.STANDBY):
        left = Instance.objects.filter(host=host, state__in=PLACED_STATES).count()
        if left:
            raise Conflict(f"Host {host.name} still holds {left} instance(s); evacuate it first.")
    with transaction.atomic():
        op = begin_power(user, host, action, reason=reason, request=request)
        operations.send_after_commit(tasks.power_host, op)
    return op


def begin_power(user, host, action, *, reason="", request=None):
    """The power Operation and its audit record, for the caller to run (TargetBusy while
    another power action is active on the host)."""
    op = operations.begin(
        f"{POWER_OP_PREFIX}{action}", host, user=_user(user), project=None, detail={"action": action, "reason": reason}
    )
    audit.record(user, f"scheduler.{action}", host, request=request, reason=reason)
    return op


def _set_host_state(host, state, reason):
    return compute_services.set_host_state(None, host, state, reason)


def power_off(host, *, verify=True):
    """Hard power-off through the host's driver; with `verify`, read back that it is off."""
    driver, config = power_driver(host)
    if not driver.can_power_off:
        raise PowerError(f"the {config.kind} driver of {host.name} cannot power it off")
    driver.power_off()
    if verify and driver.can_read_status:
        status = driver.status()
        if status != PowerStatus.OFF:
            raise PowerError(f"{host.name} still reports power {status} after power-off")
    HostPower.objects.update_or_create(host=host, defaults={"power_state": c.PowerState.OFF, "last_error": ""})
    return config.kind


def do_power(host, action, reachable=None):
    """The work of a power Operation (called from the task). `reachable(host) -> bool`
    probes libvirt after a power-on; the task passes it so this module needs no gateway."""

    try:
        if action in (c.PowerAction.OFF, c.PowerAction.STANDBY, c.PowerAction.FENCE):
            if action == c.PowerAction.STANDBY:
                _set_host_state(host, HostState.MAINTENANCE, "DPM: entering standby")
            try:
                kind = power_off(host)
            except PowerError:
                if action == c.PowerAction.STANDBY:
                    _set_host_state(host, HostState.UP, "DPM: standby failed, host stays on")
                raise
            state = HostState.STANDBY if action == c.PowerAction.STANDBY else HostState.DOWN
            _set_host_state(host, state, f"powered off through {kind} ({action})")
            return f"{host.name} powered off ({kind})"
        driver, config = power_driver(host)
        driver.power_on()
    except PowerError as exc:
        HostPower.objects.update_or_create(host=host, defaults={"last_error": str(exc)[:500]})
        raise ActionError(f"Power {action} of {host.name} failed: {exc}") from exc
    HostPower.objects.update_or_create(host=host, defaults={"power_state": c.PowerState.WAKING, "last_error": ""})
    if reachable is not None and reachable(host):
        mark_awake(host)
        return f"{host.name} powered on ({config.kind}) and up"
    return f"{host.name} powered on ({config.kind}); waiting for its hypervisor"


def mark_awake(host):
    # `woken` starts DPM's hold-down: the host is not put back in standby straight away.
    HostPower.objects.update_or_create(host=host, defaults={"power_state": c.PowerState.ON, "woken": timezone.now()})
    host.refresh_from_db()
    if host.state in (HostState.STANDBY, HostState.DOWN) and host.refreshed:
        _set_host_state(host, HostState.UP, "powered on; hypervisor answers")


# --- admission control ---------------------------------------------------------------------


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


# --- EVC -----------------------------------------------------------------------------------


def request_evc(user, cluster, request=None):
    """Queue the computation of the cluster's CPU baseline from its hosts (an Operation)."""

    with transaction.atomic():
        op = operations.begin("cluster.evc_baseline", cluster, user=_user(user), project=None)
        operations.dispatch(tasks.compute_evc, op)
    audit.record(user, "scheduler.evc", cluster, request=request)
    return op


def store_baseline(cluster, model, xml, incompatible=()):
    """Write the baseline on compute's Cluster (its EVC fields) and remember the hosts libvirt
    found unable to run it: planning never sends an instance there (snapshot.py)."""
    type(cluster).objects.filter(pk=cluster.pk).update(cpu_baseline_model=model, cpu_baseline_xml=xml)
    cluster.cpu_baseline_model, cluster.cpu_baseline_xml = model, xml
    settings = snapshot.settings_for(cluster)
    settings.evc_incompatible_hosts = sorted(h.pk for h in incompatible)
    settings.save(update_fields=["evc_incompatible_hosts", "updated"])
    return settings.evc_incompatible_hosts


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
