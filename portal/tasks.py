"""The frame every infrastructure task runs in: reload the Operation by primary key, mark it
running, do the work, record the outcome. Expected failures (typed errors from the gateway
or a service) fail the Operation with their message; anything else fails it too and is
re-raised so the worker logs the traceback."""

import logging

from celery import current_task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from hypervisor.errors import HypervisorError
from portal import leases, operations, quotas, reconnect, teardown
from portal.errors import ActionError
from portal.models import Project

log = logging.getLogger(__name__)
EXPECTED_ERRORS = (HypervisorError, ActionError)
# Task options of long jobs (migrations, block jobs): `@shared_task(bind=True, **LONG_JOB)`.
LONG_JOB = {
    "time_limit": settings.NUBES_LONG_TASK_TIME_LIMIT,
    "soft_time_limit": settings.NUBES_LONG_TASK_SOFT_TIME_LIMIT,
}


class Cancelled(Exception):
    """Raised by work that saw `cancel_requested` at a safe point."""


def run_operation(op_id, work, task_id=""):
    """work(op) -> message or None. Claims the queued Operation with one conditional UPDATE
    and holds its lease while the work runs (portal.leases): an Operation already claimed by
    another delivery, finished or cancelled is left alone."""
    task = current_task._get_current_object() if current_task else None
    request = task.request if task is not None else None
    args = list(getattr(request, "args", None) or [])
    if args[:1] != [op_id]:
        task, args = None, []  # called directly, or inside another task: nothing to resend
    worker = leases.worker_name(getattr(request, "hostname", "") or "")
    op = leases.claim(op_id, task_id=task_id, worker=worker, task_name=task.name if task else "", task_args=args[1:])
    if op is None:
        return None
    limit = getattr(task, "time_limit", None) or settings.CELERY_TASK_TIME_LIMIT
    with leases.Heartbeat(op.pk, worker, limit), reconnect.riding_out_restarts():
        return _run_claimed(op, work)


def _run_claimed(op, work):
    try:
        message = work(op)
    except Cancelled as exc:
        operations.cancelled(op, str(exc) or "Cancelled")
        return None
    except EXPECTED_ERRORS as exc:
        operations.fail(op, exc)
        return None
    except SoftTimeLimitExceeded:
        operations.fail(op, "The task ran past its time limit.")
        return None
    except Exception as exc:  # noqa: BLE001 - recorded on the Operation, then re-raised for the log
        operations.fail(op, f"Internal error: {exc.__class__.__name__}: {exc}")
        raise
    operations.succeed(op, message or "")
    return op.pk


def check_cancel(op):
    op.refresh_from_db(fields=["cancel_requested"])
    if op.cancel_requested:
        raise Cancelled("Cancelled on request")


@shared_task(bind=True)
def recount_quota(self, op_id):
    """Recompute each resource's usage from what the project really owns."""

    def work(op):
        project = Project.objects.get(pk=op.target_id)
        counters = quotas.counters()
        for index, (resource, count) in enumerate(counters.items(), start=1):
            quotas.set_usage(project, resource, count(project))
            operations.progress(op, 100 * index // max(1, len(counters)), f"Counted {resource}")
        return f"Recounted {len(counters)} resources"

    return run_operation(op_id, work, self.request.id or "")


@shared_task(bind=True)
def purge_project(self, op_id):
    """Remove what the project owns through each app's verbs, then the project (portal.teardown)."""

    def work(op):
        project = Project.objects.filter(pk=op.target_id).first()
        if project is None:
            return "Nothing to do: the project is gone."
        return teardown.purge(op, project, op.requester)

    return run_operation(op_id, work, self.request.id or "")


@shared_task
def reap_operations():
    """The reaper's beat task: end or resume running Operations whose worker is gone."""
    outcomes = leases.reap()
    for op_id, outcome in outcomes:
        log.warning("operation %s %s by the reaper", op_id, outcome)
    return len(outcomes)
