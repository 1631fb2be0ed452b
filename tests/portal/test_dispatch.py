"""Dispatch cannot be lost: a failing publish never stops the task from being sent, publish
never raises (redis-py's errors are not builtin ones), and a broker that refuses the task fails
the Operation instead of leaving it queued for ever. Real clients against a closed port."""

import pytest
from celery import Celery
from django.db import transaction

from portal import operations, realtime
from portal.models import Operation, Project
from portal.tasks import recount_quota

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: every call fails at once
pytestmark = pytest.mark.django_db(transaction=True)  # on_commit runs at once, as in the worker


@pytest.fixture
def dead_channel_layer(settings):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [DEAD_REDIS]}}
    }
    yield


def test_publish_swallows_redis_errors(dead_channel_layer, caplog):
    realtime.publish("operation.1", "operation", {"id": 1})  # must not raise
    assert any("publish to operation.1 failed: ConnectionError" in r.getMessage() for r in caplog.records)


def test_a_failing_publish_does_not_stop_the_task_being_sent(dead_channel_layer):
    project = Project.objects.create(name="blip")
    with transaction.atomic():
        op = operations.begin("project.recount_quota", project)  # its publish is queued first
        operations.send_after_commit(recount_quota, op)
    assert Operation.objects.get(pk=op.pk).status == "succeeded"


def test_a_broker_that_refuses_the_task_fails_the_operation():
    app = Celery("refusing", broker=DEAD_REDIS, set_as_current=False)
    app.conf.task_publish_retry = False
    app.conf.broker_connection_timeout = 1

    @app.task(name="tests.never_sent")
    def never_sent(op_id):
        raise AssertionError("a refused task cannot run")

    project = Project.objects.create(name="no-broker")
    with transaction.atomic():
        op = operations.begin("project.recount_quota", project)
        operations.send_after_commit(never_sent, op)
    op.refresh_from_db()
    assert op.status == "failed" and "Could not queue the task" in op.error
    operations.begin("project.recount_quota", project)  # the target is free again
