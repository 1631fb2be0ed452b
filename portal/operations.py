"""Creating and advancing Operations. Every change is saved, then published to the
operation's group and its project's group, so browsers follow progress without polling."""

import logging
import threading

from django.db import IntegrityError, transaction
from django.utils import timezone

from portal import leases, realtime, reconnect
from portal.api.serializers import OperationSerializer
from portal.choices import ACTIVE_STATUSES, OperationStatus
from portal.errors import ActionError
from portal.models import Operation, Project

log = logging.getLogger(__name__)


class TargetBusy(Exception):
    """Another operation is still queued or running on the same target."""

    def __init__(self, running):
        self.running = running
        super().__init__(f"{running.kind} (operation {running.pk}) is still {running.status} on this resource.")


def target_key(target):
    return target._meta.label_lower, str(target.pk)


def begin(kind, target, *, user=None, project=None, cancellable=False, detail=None):
    """Create a queued Operation on `target`; raises TargetBusy if one is active on it.

    Call inside the caller's transaction; the database's partial unique index is the lock."""
    target_type, target_id = target_key(target)
    if project is None:
        project = owning_project(target)
    try:
        with transaction.atomic():
            op = Operation.objects.create(
                kind=kind,
                target_type=target_type,
                target_id=target_id,
                target_name=str(target)[:255],
                project=project,
                requester=user if user is not None and user.is_authenticated else None,
                cancellable=cancellable,
                detail=detail or {},
            )
    except IntegrityError:
        running = active_on(target)
        if running is None:
            raise
        raise TargetBusy(running) from None
    transaction.on_commit(lambda: publish(op), robust=True)
    return op


def begin_untargeted(kind, *, name, user=None, project=None, cancellable=False, detail=None):
    """An operation with no single target (e.g. a cluster-wide audit); not exclusive."""
    op = Operation.objects.create(
        kind=kind,
        target_type="",
        target_id="",
        target_name=name[:255],
        project=project,
        requester=user if user is not None and user.is_authenticated else None,
        cancellable=cancellable,
        detail=detail or {},
    )
    transaction.on_commit(lambda: publish(op), robust=True)
    return op


def owning_project(target):
    return target if isinstance(target, Project) else getattr(target, "project", None)


def active_on(target):
    target_type, target_id = target_key(target)
    return Operation.objects.filter(target_type=target_type, target_id=target_id, status__in=ACTIVE_STATUSES).first()


def serialize(op):
    return OperationSerializer(op).data


def publish(op):
    """Never raises: a browser missing one update must not fail the work or lose a dispatch."""
    try:
        data = serialize(op)
    except Exception:  # noqa: BLE001 - logged; the row in the database stays the truth
        log.exception("operation %s: cannot serialise for publishing", op.pk)
        return
    if op.project_id:
        realtime.publish_to_project(op.project_id, "operation", data, also=[op.group])
    else:
        realtime.publish(op.group, "operation", data)


def _save(op, **fields):
    for name, value in fields.items():
        setattr(op, name, value)
    # a task's progress or outcome outlives a database restart (setting the fields again is harmless)
    reconnect.retrying(lambda: op.save(update_fields=list(fields)))
    publish(op)
    return op


def mark_running(op, task_id=""):
    return _save(op, status=OperationStatus.RUNNING, started=timezone.now(), task_id=task_id or op.task_id)


def progress(op, percent, message=""):
    percent = max(0, min(100, int(percent)))
    return _save(op, progress=percent, message=message[:500] or op.message)


def succeed(op, message="", **detail):
    fields = {"status": OperationStatus.SUCCEEDED, "progress": 100, "finished": timezone.now()}
    if message:
        fields["message"] = message[:500]
    if detail:
        fields["detail"] = {**op.detail, **detail}
    return _save(op, **fields)


def fail(op, error, message=""):
    return _save(
        op,
        status=OperationStatus.FAILED,
        error=str(error)[:10000],
        message=(message or str(error))[:500],
        finished=timezone.now(),
    )


def fail_interrupted():
    """Fail every queued or running Operation: the embedded broker keeps no queue across
    restarts, so their tasks died with the process that was to run them, and an Operation
    left active would hold its target (one action at a time) for ever. Returns how many."""
    reason = "Interrupted: the portal process that was to run it stopped. Try again."
    ops = list(Operation.objects.filter(status__in=ACTIVE_STATUSES))
    for op in ops:
        fail(op, reason)
    return len(ops)


def cancelled(op, message="Cancelled"):
    return _save(op, status=OperationStatus.CANCELLED, message=message, finished=timezone.now())


def request_cancel(op):
    """Ask a running operation to stop; the task checks `cancel_requested` at safe points.
    A queued one is cancelled at once, and so is a running one whose worker is gone (its lease
    ran out) once its verb confirms nothing runs on the host. Returns False when the operation
    cannot be cancelled."""

    if op.status == OperationStatus.RUNNING and leases.cancel_orphan(op):
        return True
    with transaction.atomic():
        op = Operation.objects.select_for_update().get(pk=op.pk)
        if not op.cancellable or op.status not in ACTIVE_STATUSES:
            return False
        if op.status == OperationStatus.QUEUED:
            cancelled(op)
        else:
            _save(op, cancel_requested=True, message="Cancel requested")
    return True


def reload(op_id):
    return Operation.objects.get(pk=op_id)


# --- running an Operation's task: queued after commit, or here during a purge ---------------

_inline = threading.local()


def dispatch(task, op, *args):
    """Queue ``task(op.pk, *args)`` once the caller's transaction commits; inside run_inline()
    keep it for run_inline to run in this process instead."""
    pending = getattr(_inline, "pending", None)
    if pending is not None:
        pending.append((task, op.pk, args))
    else:
        send_after_commit(task, op, *args)


def send_after_commit(task, op, *args):
    """Send ``task(op.pk, *args)`` once the caller's transaction commits (see send)."""
    # robust: an earlier callback's error must not stop the send (eager tests want errors out)
    transaction.on_commit(lambda: send(task, op.pk, *args), robust=not task.app.conf.task_always_eager)


def send(task, op_id, *args):
    """Send the task; when the broker refuses it, fail the Operation, which would otherwise stay
    queued for ever and hold its target. Eager Celery (tests) runs it here and lets errors out."""
    # the reaper sends it again if no worker claims it in time (a broker that lost the message)
    Operation.objects.filter(pk=op_id, status=OperationStatus.QUEUED).update(
        task_name=task.name[:200], task_args=list(args), lease_expires_at=timezone.now() + leases.resend_after()
    )
    if task.app.conf.task_always_eager:
        task.delay(op_id, *args)
        return
    try:
        task.delay(op_id, *args)
    except Exception as exc:  # noqa: BLE001 - any broker error; the Operation records it
        log.exception("operation %s: cannot send %s", op_id, task.name)
        op = Operation.objects.filter(pk=op_id, status=OperationStatus.QUEUED).first()
        if op is not None:
            # what the service already did for the task (a create's instance and quota) is put back
            note = leases.settle_unsent(op)
            fail(op, f"Could not queue the task (broker unreachable?): {exc.__class__.__name__}: {exc} {note}".strip())


def run_inline(verb, *args, **kwargs):
    """Call a service verb, then run here, in order, the tasks it queued and those they queue
    (a purge removes one resource after another). ActionError names the first Operation that
    did not succeed; the tasks after it are cancelled unrun, so their targets stay free for a retry."""
    if getattr(_inline, "pending", None) is not None:
        raise RuntimeError("run_inline does not nest")
    _inline.pending = pending = []
    try:
        result = verb(*args, **kwargs)
        while pending:
            task, op_id, task_args = pending.pop(0)
            task.apply(args=(op_id, *task_args))
            op = reload(op_id)
            if op.status != OperationStatus.SUCCEEDED:
                raise ActionError(f"{op.kind} of {op.target_name} {op.status}: {op.error or op.message}")
        return result
    finally:
        _inline.pending = None
        for _task, op_id, _args in pending:
            left = Operation.objects.filter(pk=op_id, status__in=ACTIVE_STATUSES).first()
            if left is not None:
                cancelled(left, "Not run: an earlier step failed")
