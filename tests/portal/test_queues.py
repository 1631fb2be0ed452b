"""Queues that cannot starve each other: heartbeats, metrics and long jobs have their own
queues; a worker started without -Q consumes every queue, so a small install needs nothing."""

import importlib

import pytest
from django.conf import settings

from portal.celery import app


@pytest.mark.parametrize("queue", ["nubes.heartbeats", "nubes.metrics", "nubes.long"])
def test_every_routed_task_exists_and_goes_to_its_queue(queue):
    for app_name in ("catalog", "compute", "network", "portal", "scheduler", "storage"):
        importlib.import_module(f"{app_name}.tasks")  # as a worker's autodiscovery does
    for name in settings.NUBES_QUEUES[queue]:
        assert name in app.tasks, f"{name} is routed but no such task is registered"
        assert app.amqp.router.route({}, name)["queue"].name == queue


def test_the_rest_stays_on_the_default_queue():
    for name in ("compute.tasks.create_instance", "portal.tasks.recount_quota", "network.tasks.sync"):
        assert app.amqp.router.route({}, name)["queue"].name == "celery"


def test_a_worker_without_queues_named_consumes_all_of_them():
    assert set(app.amqp.queues) == {"celery", "nubes.heartbeats", "nubes.metrics", "nubes.long"}


def test_the_beat_entries_of_heartbeats_and_metrics_are_routed_apart():
    entries = {entry["task"] for entry in app.conf.beat_schedule.values()}
    for queue in ("nubes.heartbeats", "nubes.metrics"):
        assert set(settings.NUBES_QUEUES[queue]) - {"compute.metrics.tasks.collect_host"} <= entries
