"""The collector on simulated hosts: one bulk stats call per host, rates from the second
collection on, samples in bulk, gauges kept for /metrics, values published live."""

import pytest

import hypervisor as hv
from compute.metrics import collector
from compute.models import HostSample, InstanceSample, MetricCursor
from compute.tasks import metrics as metric_tasks
from tests.compute.live_helpers import published, running  # noqa: F401

T0 = 1_790_000_000.0
INTERVAL = 10


@pytest.fixture
def calls(monkeypatch):
    """Counts the gateway calls the collector makes."""
    counted = {"bulk": 0, "node": 0}
    for name, key in (("bulk_domain_stats", "bulk"), ("node_stats", "node")):
        real = getattr(hv, name)

        def wrapper(*args, _real=real, _key=key, **kwargs):
            counted[_key] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(hv, name, wrapper)
    return counted


def test_one_bulk_call_per_host_and_no_rates_on_the_first_collection(running, calls):
    result = collector.collect_host(running.host, at=T0, publish=False)
    assert calls == {"bulk": 1, "node": 1}
    assert result.instances == 1 and result.simulated
    sample = InstanceSample.objects.get(instance=running)
    assert sample.ts == int(T0) and sample.simulated and sample.mem_used_mb > 0
    assert sample.cpu_pct is None and sample.net_rx_bps is None


def test_the_second_collection_derives_rates(running):
    collector.collect_host(running.host, at=T0, publish=False)
    collector.collect_host(running.host, at=T0 + INTERVAL, publish=False)
    sample = InstanceSample.objects.filter(instance=running).latest("ts")
    assert 0 < sample.cpu_pct <= 100
    for metric in ("net_rx_bps", "net_tx_bps", "net_rx_pps", "disk_read_bps", "disk_write_bps", "disk_write_iops"):
        assert getattr(sample, metric) > 0, metric
    host_sample = HostSample.objects.filter(host=running.host).latest("ts")
    assert 0 < host_sample.cpu_pct <= 100 and host_sample.running_instances == 1 and host_sample.load > 0
    assert host_sample.mem_used_mb > 0 and host_sample.mem_free_mb > 0


def test_a_counter_reset_between_collections_gives_a_sane_rate(running):
    collector.collect_host(running.host, at=T0, publish=False)
    cursor = MetricCursor.objects.get(host=running.host)
    uuid = str(running.uuid)
    cursor.domains[uuid] = {**cursor.domains[uuid], "cpu_time_ns": 10**18, "net_rx_bytes": 10**15}
    cursor.save()  # as if the domain had run far longer before a restart
    collector.collect_host(running.host, at=T0 + INTERVAL, publish=False)
    sample = InstanceSample.objects.filter(instance=running).latest("ts")
    assert 0 <= sample.cpu_pct <= 100 and sample.net_rx_bps >= 0


def test_the_cursor_keeps_the_latest_values_for_the_export(running):
    collector.collect_host(running.host, at=T0, publish=False)
    collector.collect_host(running.host, at=T0 + INTERVAL, publish=False)
    latest = MetricCursor.objects.get(host=running.host).latest
    assert latest["ts"] == int(T0 + INTERVAL) and latest["simulated"] is True
    assert latest["instances"][str(running.pk)]["cpu_pct"] > 0 and latest["host"]["running_instances"] == 1


def test_values_are_published_to_the_instance_host_and_cluster_groups(running, published):
    collector.collect_host(running.host, at=T0)
    collector.collect_host(running.host, at=T0 + INTERVAL)
    groups = {group for group, event, _ in published if event == "metrics"}
    assert groups == {
        f"compute.instance.{running.pk}",
        f"compute.host.{running.host_id}",
        f"compute.cluster.{running.host.cluster_id}",
    }
    last = [d for g, e, d in published if g == f"compute.instance.{running.pk}"][-1]
    assert last["ts"] == int(T0 + INTERVAL) and last["simulated"] and last["values"]["cpu_pct"] > 0


def test_a_collection_publishes_through_one_event_loop_not_one_per_message(running, monkeypatch):
    """One publish_many per host: publish() per message paid for an event loop and a Redis
    connection each (bench/metrics_scale.py: 5,000 instances, 16 s of publishing per 10 s cycle)."""
    batches, singles = [], []
    monkeypatch.setattr(collector.realtime, "publish_many", lambda messages: batches.append(list(messages)))
    monkeypatch.setattr(collector.realtime, "publish", lambda *message: singles.append(message))
    collector.collect_host(running.host, at=T0)
    assert singles == [] and len(batches) == 1 and len(batches[0]) == 3  # the instance, its host, its cluster


def test_a_stopped_instance_gets_no_sample(api, run_tasks, running):
    with run_tasks():
        api["alice"].post(f"/api/v1/instances/{running.pk}/stop/", {"force": True}, format="json")
    result = collector.collect_host(running.host, at=T0, publish=False)
    assert result.instances == 0 and result.domains == 1
    assert HostSample.objects.get().running_instances == 0


def test_the_beat_task_collects_every_up_host(running, hosts, calls, published):
    metric_tasks.collect_all.delay()
    assert calls["bulk"] == len(hosts) and HostSample.objects.count() == len(hosts)
    metric_tasks.collect_all.delay()  # at once again: skipped, it is not yet time
    assert calls["bulk"] == len(hosts)


def test_an_unreachable_host_is_skipped_with_a_warning(running, monkeypatch, caplog):
    def unreachable(uri, at=None):
        raise hv.HostUnreachable("no route to host")

    monkeypatch.setattr(hv, "bulk_domain_stats", unreachable)
    assert metric_tasks.collect_host(running.host_id) is None
    assert "does not answer" in caplog.text and not HostSample.objects.exists()
