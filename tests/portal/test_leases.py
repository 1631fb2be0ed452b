"""Leases and the reaper (portal.leases): claims are conditional, leases are renewed while the
task runs, and an Operation whose worker is gone ends (or resumes) and frees its target."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from portal import leases, operations
from portal.models import Operation
from portal.tasks import recount_quota, run_operation


def _expire(op, seconds=1):
    Operation.objects.filter(pk=op.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=seconds))


def test_a_second_delivery_of_the_same_message_does_nothing(project_a):
    op = operations.begin("x.slow", project_a)
    runs = []
    assert run_operation(op.pk, lambda o: runs.append(o.pk) or "first") == op.pk
    assert run_operation(op.pk, lambda o: runs.append(o.pk) or "second") is None
    op.refresh_from_db()
    assert runs == [op.pk] and op.status == "succeeded" and op.message == "first"


def test_a_claim_takes_a_lease_and_names_the_worker(project_a):
    op = operations.begin("x.slow", project_a)
    claimed = leases.claim(op.pk, worker="w1/42", task_name="t", task_args=[7])
    assert claimed.status == "running" and claimed.worker == "w1/42" and claimed.task_args == [7]
    assert claimed.lease_expires_at > timezone.now() + timedelta(seconds=20)
    assert leases.claim(op.pk, worker="w2/43") is None
    assert leases.renew(op.pk, "w1/42") and not leases.renew(op.pk, "w2/43")


def test_the_reaper_fails_an_operation_whose_lease_ran_out_and_frees_the_target(project_a):
    op = leases.claim(operations.begin("x.slow", project_a).pk, worker="gone/1")
    assert leases.reap() == []  # the lease still runs
    _expire(op)
    assert leases.reap() == [(op.pk, "failed")]
    op.refresh_from_db()
    assert op.status == "failed" and "Worker lost: gone/1" in op.error and op.finished is not None
    operations.begin("x.slow", project_a)  # free again
    assert leases.reap() == []


def test_a_running_operation_without_a_lease_is_reaped_only_past_the_time_limit(project_a, settings):
    op = operations.mark_running(operations.begin("x.slow", project_a))
    assert leases.reap() == []
    Operation.objects.filter(pk=op.pk).update(
        started=timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 1)
    )
    assert leases.reap() == [(op.pk, "failed")]
    assert "no lease" in Operation.objects.get(pk=op.pk).error


def test_a_resumable_verb_is_queued_again_and_runs_to_the_end(project_a):
    op = operations.begin("project.recount_quota", project_a)
    leases.claim(op.pk, worker="gone/1", task_name=recount_quota.name)
    _expire(op)
    assert leases.reap() == [(op.pk, "resumed")]  # sent again: eager Celery runs it here
    op.refresh_from_db()
    assert op.status == "succeeded" and op.detail["resumes"] == 1 and op.worker != "gone/1"


def test_a_verb_that_keeps_losing_its_worker_is_failed_not_resumed_for_ever(project_a):
    op = operations.begin("project.recount_quota", project_a, detail={"resumes": leases.MAX_RESUMES})
    leases.claim(op.pk, worker="gone/1", task_name=recount_quota.name)
    _expire(op)
    assert leases.reap() == [(op.pk, "failed")]


def test_the_settle_hook_runs_first_and_a_silent_host_delays_the_end(project_a):
    calls = []

    def settle(op):
        calls.append(op.pk)
        if len(calls) == 1:
            raise OSError("host does not answer")
        return "The domain runs on host-a."

    leases.register("x.settled", settle=settle)
    op = leases.claim(operations.begin("x.settled", project_a).pk, worker="gone/1")
    _expire(op)
    assert leases.reap() == []  # not confirmed: left for the next round
    op.refresh_from_db()
    assert op.status == "running" and op.worker == "gone/1"
    assert leases.reap() == [(op.pk, "failed")]
    op.refresh_from_db()
    assert calls == [op.pk, op.pk] and op.error.endswith("The domain runs on host-a.")


def test_a_host_silent_past_the_grace_still_ends_the_operation_with_the_reason(project_a):
    def settle(op):
        raise OSError("host does not answer")

    leases.register("x.silent", settle=settle)
    op = leases.claim(operations.begin("x.silent", project_a).pk, worker="gone/1")
    _expire(op, seconds=leases.lease_length().total_seconds() * leases.UNSETTLED_GRACE_LEASES + 1)
    assert leases.reap() == [(op.pk, "failed")]
    assert "Nothing could confirm" in Operation.objects.get(pk=op.pk).error


def test_cancel_of_an_operation_whose_worker_is_gone_ends_it_and_frees_the_target(api, project_a):
    op = leases.claim(operations.begin("x.slow", project_a, cancellable=True).pk, worker="gone/1")
    response = api["alice"].post(f"/api/v1/operations/{op.pk}/cancel/")
    assert response.status_code == 200
    op.refresh_from_db()
    assert op.status == "running" and op.cancel_requested  # the lease still runs: only asked
    _expire(op)
    assert api["alice"].post(f"/api/v1/operations/{op.pk}/cancel/").status_code == 200
    op.refresh_from_db()
    assert op.status == "cancelled" and "was lost" in op.message
    operations.begin("x.slow", project_a)


def test_a_cancel_requested_before_the_worker_died_is_honoured_by_the_reaper(project_a):
    op = leases.claim(operations.begin("x.slow", project_a, cancellable=True).pk, worker="gone/1")
    assert operations.request_cancel(op)
    _expire(op)
    assert leases.reap() == [(op.pk, "cancelled")]


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_renews_the_lease_while_the_task_runs(settings):
    from portal.models import Project

    settings.NUBES_OPERATION_LEASE = 3  # renewed every second
    op = leases.claim(operations.begin("x.slow", Project.objects.create(name="hb")).pk, worker="me/1")
    first = op.lease_expires_at
    with leases.Heartbeat(op.pk, "me/1", limit=60):
        time.sleep(2.5)
    renewed = Operation.objects.get(pk=op.pk).lease_expires_at
    assert renewed > first + timedelta(seconds=1)


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_stops_at_the_time_limit(settings):
    from portal.models import Project

    settings.NUBES_OPERATION_LEASE = 3
    op = leases.claim(operations.begin("x.slow", Project.objects.create(name="hb2")).pk, worker="me/1")
    first = op.lease_expires_at
    with leases.Heartbeat(op.pk, "me/1", limit=0.5):
        time.sleep(2.5)
    assert Operation.objects.get(pk=op.pk).lease_expires_at == first


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_deliveries_run_the_work_once():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL): SQLite serialises writers, so there is no race to test")
    from portal.models import Project

    op = operations.begin("x.slow", Project.objects.create(name="twice"))
    barrier = threading.Barrier(2)
    runs = []

    def deliver():
        try:
            barrier.wait(timeout=10)
            run_operation(op.pk, lambda o: runs.append(threading.get_ident()) or "ran")
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(runs) == 1
    assert Operation.objects.get(pk=op.pk).status == "succeeded"


def test_beat_runs_the_reaper_at_most_one_lease_apart(settings):
    from portal.celery import app

    entry = app.conf.beat_schedule["portal-reap-operations"]
    assert entry["task"] == "portal.tasks.reap_operations"
    assert entry["schedule"] <= settings.NUBES_OPERATION_LEASE  # lease + period <= 2 x lease


def test_redis_redelivers_a_lost_message_only_after_the_longest_task(settings):
    longest = max(settings.CELERY_TASK_TIME_LIMIT, settings.NUBES_LONG_TASK_TIME_LIMIT)
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > longest
