"""Applying recommendations: an approved one's migrations go through compute's migration
contract, then its power actions are queued; HA's restarts go through compute's restart_on.
finalize records the outcome when its Operations end (signals.py, the sweep). Deciding
(approve, reject) and planning are the services' (services/recommendations.py)."""

from django.db import transaction
from django.utils import timezone

from compute.choices import InstanceState
from compute.models import Host, Instance
from compute.services import migration
from portal import operations
from portal.audit import actor
from portal.choices import OperationStatus
from portal.errors import ActionError
from scheduler import choices as c
from scheduler import snapshot
from scheduler.core import drs as core_drs
from scheduler.core.state import index_for
from scheduler.models import Recommendation
from scheduler.tasks.power import queue_power

RS = c.RecommendationState
COPY_STORAGE = "copy_storage"
AUTO_CONVERGE = "auto_converge"


# --- measuring -----------------------------------------------------------------------------


def measure_imbalance(cluster):
    """The imbalance of the cluster as it is now (standard deviation of host loads)."""
    view = snapshot.build(cluster)
    index = index_for(view.snapshot, view.policy)
    return core_drs.imbalance(list(core_drs.host_loads(index).values()))


def move_rows(view, moves):
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


def start_moves(rec, user):
    errors = []
    for move in rec.moves:
        instance = Instance.objects.select_related("project", "host", "flavor").get(pk=int(move["instance"]))
        target = Host.objects.get(pk=int(move["target"]))
        try:
            op = start_migration(
                instance,
                target,
                user=actor(user),
                reason=f"{rec.kind} recommendation {rec.pk}: {move['explanation']}"[:500],
            )
        except (ActionError, operations.TargetBusy) as exc:
            errors.append(f"{move['instance_name']}: {exc}")
            continue
        rec.operations.add(op)
    if errors:
        rec.error = "; ".join(errors)[:10000]
        rec.save(update_fields=["error"])


def start_power_actions(rec, user):
    for action in rec.power_actions:
        host = Host.objects.get(pk=int(action["host"]))
        try:
            op = queue_power(user, host, action["action"], reason=f"DPM recommendation {rec.pk}")
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
        finish_if_done(rec)
    return rec


def finish_if_done(rec):
    ops = list(rec.operations.all())
    if any(op.is_active for op in ops):
        return
    failed = [op for op in ops if op.status != OperationStatus.SUCCEEDED]
    pending_power = [a for a in rec.power_actions if "operation" not in a]
    if not failed and not rec.error and pending_power:
        start_power_actions(rec, rec.decided_by)
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
