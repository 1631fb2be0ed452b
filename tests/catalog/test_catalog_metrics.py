"""A managed database's metrics from inside its guest on simulated hosts, the agent faked (the
metrics script itself runs in the lab tier): the beat queues a reading per running service with
a metrics hook, transactions/s from two readings' counters (none across a restart), samples
stored, charted on the service's page with compute's charts and pruned; a guest that does not
answer makes the service degraded with the reason and the next answer active again."""

import time

import pytest

import hypervisor as hv
from catalog import beat, metrics
from catalog.models import ServiceSample, ServiceState
from portal import operations

from .test_catalog_backups import FakeAgent, install, ordered_with
from .test_catalog_backups import db_template as db_template  # noqa: F401  (fixtures)
from .test_catalog_backups import order as order  # noqa: F401
from .test_catalog_backups import pages as pages  # noqa: F401
from .test_catalog_backups import pool as pool  # noqa: F401

STARTED = 1796629199.1


def reading(xact_total, connections=3, size_bytes=64 * 2**20, started=STARTED):
    return {
        "connections": connections,
        "max_connections": 100,
        "xact_total": xact_total,
        "size_bytes": size_bytes,
        "started": started,
        "databases": [{"name": "shop", "connections": connections, "xact_total": xact_total, "size_bytes": 2**20}],
    }


class MetricsAgent(FakeAgent):
    def __init__(self):
        super().__init__()
        self.readings, self.down = [], False

    def __call__(self, uri, uuid, script, arguments, *, allowed, timeout=None):
        if self.down:
            raise hv.GuestAgentUnavailable("the guest agent is not connected")
        return super().__call__(uri, uuid, script, arguments, allowed=allowed, timeout=timeout)

    def answer(self, script):
        if script == "metrics":
            return self.readings.pop(0)
        return super().answer(script)


@pytest.fixture
def agent(monkeypatch):
    return install(monkeypatch, MetricsAgent())


@pytest.fixture
def service(order, db_template):  # noqa: F811
    return ordered_with(order, db_template, hooks={"metrics": "metrics"})


def test_two_readings_make_a_transaction_rate_and_samples(service, agent):
    now = time.time()
    agent.readings += [reading(1000), reading(1120, connections=5, size_bytes=80 * 2**20)]
    first = metrics.collect(service, now=now - 60)
    assert (first.connections, first.xact_per_s, first.size_mib) == (3, None, 64.0)  # no rate from one reading
    second = metrics.collect(service, now=now)
    assert (second.connections, second.xact_per_s, second.size_mib) == (5, 2.0, 80.0)
    service.refresh_from_db()
    assert service.inventory["metrics"]["xact_total"] == 1120 and service.inventory["metrics"]["max_connections"] == 100
    assert agent.scripts()[-2:] == ["metrics", "metrics"]


def test_a_restart_begins_the_counters_again_and_gives_no_rate(service, agent):
    now = time.time()
    agent.readings += [reading(5000), reading(40, started=STARTED + 500)]
    metrics.collect(service, now=now - 60)
    assert metrics.collect(service, now=now).xact_per_s is None


def test_the_beat_reads_each_running_service_and_skips_a_busy_one(service, agent, run_tasks, alice):
    agent.readings.append(reading(10))
    with run_tasks():
        assert beat.collect_metrics() == 1
    assert ServiceSample.objects.filter(service=service).count() == 1
    # While an Operation runs on it (a restart for a configuration change, a backup): not read.
    op = operations.begin("service.backup", service, user=alice, project=service.project, detail={})
    with run_tasks():
        assert beat.collect_metrics() == 0
    op.delete()


def test_a_template_without_a_metrics_hook_is_not_read(service, agent, run_tasks, db_template):  # noqa: F811
    db_template.hooks = {k: v for k, v in db_template.hooks.items() if k != "metrics"}
    db_template.save()
    with run_tasks():
        assert beat.collect_metrics() == 0
    assert "metrics" not in agent.scripts()


def test_a_guest_that_does_not_answer_is_degraded_then_active_again(service, agent):
    agent.down = True
    assert metrics.collect(service) is None
    service.refresh_from_db()
    assert service.state == ServiceState.DEGRADED and service.status_reason.startswith("guest agent:")
    agent.down = False
    agent.failing.add("metrics")
    agent.readings.append(reading(5))  # read, then the script fails
    assert metrics.collect(service) is None
    service.refresh_from_db()
    assert service.state == ServiceState.DEGRADED and "database: " in service.status_reason
    agent.failing.clear()
    agent.readings.append(reading(10))
    assert metrics.collect(service) is not None
    service.refresh_from_db()
    assert service.state == ServiceState.ACTIVE and service.status_reason == ""


def test_old_samples_are_pruned(service, agent):
    now = time.time()
    ServiceSample.objects.create(service=service, ts=int(now - 30 * 86400), connections=1)
    ServiceSample.objects.create(service=service, ts=int(now), connections=2)
    assert metrics.prune(now) == 1
    assert list(ServiceSample.objects.values_list("connections", flat=True)) == [2]


def test_the_page_charts_the_samples_for_members_and_readers_only(service, agent, pages):
    now = time.time()
    agent.readings += [reading(1000), reading(1300)]
    metrics.collect(service, now=now - 60)
    metrics.collect(service, now=now)
    page = pages["alice"].get(f"/catalog/services/{service.pk}/")
    body = page.content.decode()
    assert page.status_code == 200 and f'data-subscribe="catalog.service.{service.pk}"' in body
    for index in range(3):
        assert f'id="chart-service-{service.pk}-{index}"' in body
    assert "5.0 transactions/s" in body and "3 connections of 100" in body
    charts = metrics.service_charts(service, now=now)
    assert [c.title for c in charts] == ["Connections", "Transactions", "Database size"]
    assert charts[1].figure["data"][0]["y"] == [5.0] and not charts[1].empty
    assert charts[0].traces == [{"group": f"catalog.service.{service.pk}", "id": service.pk, "metric": "connections"}]
    assert "chart-service-" in pages["bob"].get(f"/catalog/services/{service.pk}/").content.decode()
    assert pages["charlie"].get(f"/catalog/services/{service.pk}/").status_code == 404
