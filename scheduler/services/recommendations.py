"""Recommendations: settings, running DRS / DPM, deciding and applying their proposals."""

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from compute.models import Instance
from portal import audit
from portal.audit import actor
from portal.errors import Conflict
from scheduler import choices as c
from scheduler import conf, snapshot
from scheduler.core import dpm as core_dpm
from scheduler.core import drs as core_drs
from scheduler.models import HostPower, Recommendation
from scheduler.tasks.recommendations import finalize, finish_if_done, move_rows, start_moves, start_power_actions

RS = c.RecommendationState


# --- settings ------------------------------------------------------------------------------


def update_settings(user, cluster, request=None, **fields):
    settings = snapshot.settings_for(cluster)
    for name, value in fields.items():
        setattr(settings, name, value)
    settings.full_clean()
    settings.save()
    audit.record(user, "scheduler.settings", cluster, request=request, **{k: str(v) for k, v in fields.items()})
    return settings


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
            moves=move_rows(view, result.moves),
            expected_benefit=sum(m.benefit for m in result.moves),
            imbalance_before=result.imbalance_before,
            imbalance_predicted=result.imbalance_after,
            created_by=actor(user),
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
            moves=move_rows(view, plan.moves),
            power_actions=actions,
            created_by=actor(user),
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
    rec.decided_by = actor(user)
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
            start_moves(rec, user)
            if not rec.moves:
                start_power_actions(rec, user)
            finish_if_done(rec)
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


def sweep():
    """Beat's fallback: expire old proposals, finish approved ones whose work is over."""
    expired = expire_stale()
    for pk in Recommendation.objects.filter(state=RS.APPROVED).values_list("pk", flat=True):
        finalize(pk)
    return expired
