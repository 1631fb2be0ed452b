"""Fixtures of the migration and metrics tests (import the ones a module uses)."""

import pytest

import hypervisor as hv
from compute.tasks import migration as migration_tasks
from portal import realtime


@pytest.fixture
def running(launch):
    """alice's instance, running on host-a (placement's pick: the most free memory)."""
    response, instance = launch()
    assert response.status_code == 202 and instance.host.name == "host-a"
    return instance


@pytest.fixture
def baseline(cluster, hosts):
    """The cluster CPU baseline (EVC) of host-a and host-b, so guests may move both ways."""
    cpus = [hv.host_cpu_xml(host.uri) for host in hosts]
    cluster.cpu_baseline_xml = hv.cpu_baseline(hosts[0].uri, cpus)
    cluster.cpu_baseline_model = "Skylake-Server"
    cluster.save()
    for host in hosts:
        host.cluster.refresh_from_db()
    return cluster


@pytest.fixture
def instant(monkeypatch):
    """The simulated pre-copy without waiting; returns the list of sleeps it asked for."""
    sleeps = []
    monkeypatch.setattr(migration_tasks, "_sleep", sleeps.append)
    return sleeps


@pytest.fixture
def published(monkeypatch):
    """Every realtime.publish (and publish_many) as (group, event, data), instead of the channel layer."""
    messages = []
    monkeypatch.setattr(realtime, "publish", lambda group, event, data: messages.append((group, event, data)))
    monkeypatch.setattr(realtime, "publish_many", messages.extend)
    return messages


def on_host(instance, host):
    """The domain's libvirt state on ``host``, or None when it is not there."""
    try:
        return hv.domain_state(host.uri, str(instance.uuid)).state
    except hv.DomainNotFound:
        return None
