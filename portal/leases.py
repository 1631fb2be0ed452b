"""Leases on running Operations, and the reaper that ends those whose worker is gone.

A task claims its queued Operation with one conditional UPDATE (QUEUED -> RUNNING, so a second
delivery of the same message does nothing) and takes a lease; a heartbeat thread renews the
lease every third of its length while the task runs. The reaper (a beat task, portal.tasks)
takes every running Operation whose lease ran out, asks the verb's `settle` hook to make sure
nothing runs for it on the host any more (e.g. abort a libvirt job) and to put the target's rows
where the host says, then resumes it (verbs registered resumable: they are idempotent) or ends
it with the reason, which frees its target (one action at a time)."""

import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from portal import operations, reconnect
from portal.celery import app
from portal.choices import OperationStatus
from portal.errors import ActionError
from portal.models import Operation

log = logging.getLogger(__name__)
MAX_RESUMES = 3  # a verb that keeps losing its worker is failed rather than resumed for ever
UNSETTLED_GRACE_LEASES = 4  # how long a host that does not answer may keep the reaper waiting
# A queued Operation still unclaimed this many leases after its task was sent is sent again (a
# broker restarted without persistence lost the message); a second delivery of a message that
# was only slow does nothing (the claim is conditional). At most MAX_RESENDS times.
RESEND_AFTER_LEASES = 10
MAX_RESENDS = 3


@dataclass(frozen=True)
class Recovery:
    resumable: bool = False
    settle: object = None  # settle(op) -> a note, or None; raises when the host cannot tell


_recovery = {}


def register(kind, *, resumable=False, settle=None):
    """Declare how the reaper recovers a `kind` of Operation whose worker is gone."""
    _recovery[kind] = Recovery(resumable=resumable, settle=settle)


def lease_length():
    return timedelta(seconds=settings.NUBES_OPERATION_LEASE)


def worker_name(hostname=""):
    return f"{hostname or socket.gethostname()}/{os.getpid()}"


def claim(op_id, *, task_id="", worker="", task_name="", task_args=()):
    """QUEUED -> RUNNING with a fresh lease, as one conditional UPDATE. None when the Operation
    is not queued (finished, cancelled, or claimed by another delivery of the same message)."""
    now = timezone.now()
    fields = {
        "status": OperationStatus.RUNNING,
        "started": now,
        "lease_expires_at": now + lease_length(),
        "worker": worker[:255],
        "task_name": task_name[:200],
        "task_args": list(task_args),
    }
    if task_id:
        fields["task_id"] = task_id
    if not Operation.objects.filter(pk=op_id, status=OperationStatus.QUEUED).update(**fields):
        return None
    op = Operation.objects.get(pk=op_id)
    operations.publish(op)
    return op


def renew(op_id, worker):
    """Push the lease on; False when the Operation is no longer ours (reaped, cancelled, done)."""
    return bool(
        Operation.objects.filter(pk=op_id, status=OperationStatus.RUNNING, worker=worker).update(
            lease_expires_at=timezone.now() + lease_length()
        )
    )


class Heartbeat:
    """Renews the lease from a thread while the task runs, for at most `limit` seconds (the
    task's hard time limit): past it nothing renews, and the reaper takes over."""

    def __init__(self, op_id, worker, limit):
        self.op_id, self.worker, self.limit = op_id, worker, limit
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"lease-{op_id}", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(1)  # a renewal blocked on the database must not hold the task up

    def _run(self):
        period = settings.NUBES_OPERATION_LEASE / 3
        deadline = time.monotonic() + self.limit
        try:
            while not self.stop.wait(period) and time.monotonic() < deadline:
                try:
                    if not renew(self.op_id, self.worker):
                        log.warning("operation %s: lease lost (reaped or ended elsewhere)", self.op_id)
                        return
                except DatabaseError as exc:
                    log.warning("operation %s: lease renewal failed: %s", self.op_id, exc)
                    reconnect.drop_if_broken()  # else every later renewal fails on the dead connection
        finally:
            connection.close()


@contextmanager
def held_here(op, role="web"):
    """Run a queued Operation in this process, not in a task (an upload streamed while its
    request lasts), under a lease as a task holds one: claimed QUEUED -> RUNNING with this
    process as its worker, renewed while the block runs, so if the process dies the reaper
    ends it (and the verb's settle hook tidies up). Yields the claimed Operation."""
    worker = worker_name(f"{role}@{socket.gethostname()}")
    claimed = claim(op.pk, worker=worker)
    if claimed is None:
        raise ActionError(f"Operation {op.pk} is no longer queued (cancelled meanwhile?).")
    with Heartbeat(claimed.pk, worker, settings.CELERY_TASK_TIME_LIMIT):
        yield claimed


# --- the reaper ------------------------------------------------------------------------------


def expired(now=None):
    """Running Operations whose worker stopped renewing; also those without a lease (run
    before leases existed, or by hand) older than the hard time limit: no task runs them."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    running = Operation.objects.filter(status=OperationStatus.RUNNING)
    leased = running.filter(lease_expires_at__lt=now).values_list("pk", flat=True)
    unleased = running.filter(lease_expires_at__isnull=True, started__lt=stale).values_list("pk", flat=True)
    return sorted({*leased[:200], *unleased[:200]})


def reap(now=None):
    """One round of the reaper: [(operation id, outcome)] for each Operation it recovered."""
    now = now or timezone.now()
    outcomes = []
    for op_id in expired(now):
        outcome = recover(op_id, now=now)
        if outcome:
            outcomes.append((op_id, outcome))
    for op_id in unclaimed(now):
        if resend(op_id, now):
            outcomes.append((op_id, "resent"))
    return outcomes


def resend_after():
    return lease_length() * RESEND_AFTER_LEASES


def unclaimed(now):
    """Queued Operations whose sent task no worker claimed in time (operations.send notes when
    to look again in lease_expires_at)."""
    queued = Operation.objects.filter(status=OperationStatus.QUEUED, lease_expires_at__lt=now).exclude(task_name="")
    return list(queued.values_list("pk", flat=True)[:200])


def resend(op_id, now):
    """Send an unclaimed Operation's task again (one conditional UPDATE, so two reapers send it
    once); after MAX_RESENDS it is left queued for a person to cancel. True when sent."""
    op = Operation.objects.filter(pk=op_id, status=OperationStatus.QUEUED).first()
    if op is None or op.lease_expires_at is None or op.lease_expires_at >= now:
        return False
    resends = int(op.detail.get("resends", 0))
    mine = Operation.objects.filter(pk=op_id, status=OperationStatus.QUEUED, lease_expires_at=op.lease_expires_at)
    task = app.tasks.get(op.task_name)
    if resends >= MAX_RESENDS or task is None:
        mine.update(lease_expires_at=None)  # looked at no more
        return False
    if not mine.update(lease_expires_at=now + resend_after(), detail={**op.detail, "resends": resends + 1}):
        return False
    log.warning("operation %s: still queued %s after its task was sent; sending it again", op_id, resend_after())
    operations.send(task, op.pk, *op.task_args)
    return True


def _take(op_id, now, reaper):
    """Take an expired Operation for this reaper (one conditional UPDATE, so two reapers or a
    late heartbeat cannot both act); returns it with its old lease, or None."""
    op = Operation.objects.filter(pk=op_id, status=OperationStatus.RUNNING).first()
    if op is None:
        return None
    old_expiry = op.lease_expires_at
    stale = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    if old_expiry is None and (op.started is None or op.started >= stale):
        return None
    if old_expiry is not None and old_expiry >= now:
        return None
    taken = Operation.objects.filter(
        pk=op_id, status=OperationStatus.RUNNING, lease_expires_at=old_expiry, worker=op.worker
    ).update(lease_expires_at=now + lease_length(), worker=reaper)
    if not taken:
        return None
    return op, old_expiry


def recover(op_id, *, now=None, cancel=False):
    """End (or resume) one running Operation whose lease ran out, once its verb's settle hook
    confirms nothing runs for it on the host. Returns "failed", "cancelled", "resumed", or None
    (not expired, taken elsewhere, or the host did not answer yet: the next round retries)."""
    now = now or timezone.now()
    reaper = f"reaper:{worker_name()}"
    taken = _take(op_id, now, reaper)
    if taken is None:
        return None
    op, old_expiry = taken
    if cancel and not op.cancel_requested:
        # the settle hook reads it: a cancelled move ends "cancelled", not "failed"
        Operation.objects.filter(pk=op_id).update(cancel_requested=True)
        op.cancel_requested = True
    lost = op.worker or "its worker"
    recovery = _recovery.get(op.kind, Recovery())
    note = ""
    if recovery.settle is not None:
        try:
            note = recovery.settle(op) or ""
        except Exception as exc:  # noqa: BLE001 - the host's answer decides; any failure means "not yet"
            since = old_expiry or op.started
            if now - since < lease_length() * UNSETTLED_GRACE_LEASES:
                log.warning("operation %s: cannot settle yet (%s); retrying next round", op_id, exc)
                Operation.objects.filter(pk=op_id, worker=reaper).update(lease_expires_at=old_expiry, worker=op.worker)
                return None
            note = f"Nothing could confirm the host's state: {exc}"
    op.refresh_from_db()
    if op.status != OperationStatus.RUNNING or op.worker != reaper:
        return None
    if cancel or op.cancel_requested:
        message = f"Cancelled: {lost} was lost, and nothing runs for it on the host any more."
        operations.cancelled(op, _with(message, note)[:500])
        return "cancelled"
    resumes = int(op.detail.get("resumes", 0))
    if recovery.resumable and op.task_name and resumes < MAX_RESUMES:
        return _resume(op, reaper, resumes, lost)
    if old_expiry is None:
        reason = f"Worker lost: running with no lease since {op.started:%H:%M:%S} UTC, past the time limit."
    else:
        reason = f"Worker lost: {lost} stopped renewing its lease (expired {old_expiry:%H:%M:%S} UTC)."
    operations.fail(op, _with(reason, note))
    return "failed"


def settle_unsent(op):
    """The verb's settle hook for an Operation whose task the broker refused (it never ran): the
    target's rows are put back as for a lost worker, e.g. a create's instance in error and its
    quota returned. Returns the hook's note ("" without a hook)."""
    recovery = _recovery.get(op.kind, Recovery())
    if recovery.settle is None:
        return ""
    try:
        return recovery.settle(op) or ""
    except Exception as exc:  # noqa: BLE001 - the Operation fails either way; say what is unknown
        log.warning("operation %s: settling its unsent task failed: %s", op.pk, exc)
        return f"Nothing could confirm the host's state: {exc}"


def _with(message, note):
    return f"{message} {note}".strip()


def _resume(op, reaper, resumes, lost):
    requeued = Operation.objects.filter(pk=op.pk, status=OperationStatus.RUNNING, worker=reaper).update(
        status=OperationStatus.QUEUED,
        lease_expires_at=None,
        worker="",
        message=f"Resumed: {lost} was lost"[:500],
        detail={**op.detail, "resumes": resumes + 1},
    )
    if not requeued:
        return None
    op.refresh_from_db()
    operations.publish(op)
    task = app.tasks.get(op.task_name)
    if task is None:
        operations.fail(op, f"Worker lost, and its task {op.task_name} is unknown here: not resumed.")
        return "failed"
    operations.send(task, op.pk, *op.task_args)  # fails the Operation if the broker refuses
    return "resumed"


def cancel_orphan(op):
    """Cancel a running Operation whose lease ran out at once (the cancel confirms nothing runs
    on the host, as the reaper would). False when its worker still holds the lease."""
    return recover(op.pk, cancel=True) == "cancelled"
