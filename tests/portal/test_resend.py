"""A queued Operation whose task message the broker lost (Redis restarted without persistence
with a backlog) is sent again by the reaper once it stayed unclaimed for RESEND_AFTER_LEASES
leases, at most MAX_RESENDS times; a second delivery of a message that was only slow does nothing
(the claim is conditional). The lost send is real: a Celery app whose in-memory broker nobody reads."""

from datetime import timedelta

import pytest
from celery import Celery
from django.utils import timezone

from portal import leases, operations
from portal.models import Project

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lossy_task():
    """A task sent through a broker whose messages no worker ever reads."""
    app = Celery("lossy", broker="memory://", set_as_current=False)

    @app.task(name="portal.tasks.recount_quota")  # the real task's name: the reaper resends that one
    def recount_quota(op_id):
        raise AssertionError("nobody reads this broker")

    return recount_quota


def test_send_notes_the_task_and_when_to_look_again(lossy_task):
    op = operations.begin("project.recount_quota", Project.objects.create(name="slow"))
    operations.send(lossy_task, op.pk)
    op.refresh_from_db()
    assert op.status == "queued" and op.task_name == "portal.tasks.recount_quota" and op.task_args == []
    assert op.lease_expires_at > timezone.now() + leases.resend_after() - timedelta(seconds=30)
    assert leases.reap() == []  # not yet


def test_the_reaper_sends_a_lost_task_again_and_it_runs(lossy_task, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    op = operations.begin("project.recount_quota", Project.objects.create(name="lost"))
    operations.send(lossy_task, op.pk)
    later = timezone.now() + leases.resend_after() + timedelta(seconds=1)
    assert leases.reap(now=later) == [(op.pk, "resent")]
    op.refresh_from_db()
    assert op.status == "succeeded" and op.detail["resends"] == 1, (op.status, op.error)


def test_after_max_resends_it_is_left_for_a_person(lossy_task, monkeypatch):
    op = operations.begin("project.recount_quota", Project.objects.create(name="gone"))
    operations.send(lossy_task, op.pk)
    real_send = operations.send
    monkeypatch.setattr(operations, "send", lambda task, op_id, *args: real_send(lossy_task, op_id, *args))
    now = timezone.now()
    rounds = []
    for _ in range(leases.MAX_RESENDS + 2):
        now += leases.resend_after() + timedelta(seconds=1)
        rounds.append(leases.reap(now=now))
    assert rounds == [[(op.pk, "resent")]] * leases.MAX_RESENDS + [[], []]
    op.refresh_from_db()
    assert op.status == "queued" and op.detail["resends"] == leases.MAX_RESENDS and op.lease_expires_at is None
