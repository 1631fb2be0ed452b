"""HA: a host that misses heartbeats for the isolation time is fenced through its power
driver, then its instances restart elsewhere by priority; without a fence, nothing restarts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from compute.choices import HostState
from compute.models import Host, Instance
from portal.models import Operation
from scheduler import choices as c
from scheduler.models import HaEvent, HostPower
from scheduler.power import PowerStatus, simulated
from scheduler.services import power, recommendations
from scheduler.tasks import ha

CLOSED_PORT_URL = "http://127.0.0.1:9/redfish/v1/Systems/1"  # discard port: nothing listens


def lose(host):
    """The host's libvirt stops answering (its node file is gone, as a dead host's socket)."""
    Host.objects.filter(pk=host.pk).update(uri=f"test:///nonexistent/{host.name}.xml")


def miss_heartbeats_for(host, seconds, run_tasks):
    with run_tasks():
        ha.heartbeat()
    HostPower.objects.filter(host=host).update(missing_since=timezone.now() - timedelta(seconds=seconds))
    with run_tasks():
        ha.heartbeat()


@pytest.fixture
def victims(hosts, make_instance):
    host_b = hosts[1]
    return {
        "low": make_instance(host_b, "low", ram_gb=4, ha_priority=1),
        "high": make_instance(host_b, "high", ram_gb=4, ha_priority=3),
        "medium": make_instance(host_b, "medium", ram_gb=4, ha_priority=2),
        "off": make_instance(host_b, "unprotected", ram_gb=4, ha_priority=0),
    }


def test_a_live_host_only_records_its_heartbeat(hosts, run_tasks):
    with run_tasks():
        ha.heartbeat()
    power = HostPower.objects.get(host=hosts[0])
    assert power.last_heartbeat is not None and power.ha_state == c.HaState.HEALTHY
    assert not Operation.objects.filter(kind="host.failover").exists()


def test_a_short_absence_is_not_a_failure(hosts, victims, fake_migrations, run_tasks):
    lose(hosts[1])
    miss_heartbeats_for(hosts[1], 2, run_tasks)
    power = HostPower.objects.get(host=hosts[1])
    assert power.ha_state == c.HaState.MISSING and power.missed_heartbeats == 2
    assert fake_migrations.calls == []


def test_a_missing_host_is_fenced_then_its_instances_restart_by_priority(hosts, victims, fake_migrations, run_tasks):
    host_b = hosts[1]
    lose(host_b)
    miss_heartbeats_for(host_b, 60, run_tasks)
    assert simulated.state_of(str(host_b.pk)) == PowerStatus.OFF
    host_b.refresh_from_db()
    assert host_b.state == HostState.DOWN
    assert HostPower.objects.get(host=host_b).ha_state == c.HaState.FENCED
    restarted = [call[1] for call in fake_migrations.calls if call[0] == "restart"]
    assert restarted == [victims["high"].pk, victims["medium"].pk, victims["low"].pk]
    for name in ("high", "medium", "low"):
        assert Instance.objects.get(pk=victims[name].pk).host_id != host_b.pk
    assert Instance.objects.get(pk=victims["off"].pk).host_id == host_b.pk
    kinds = list(HaEvent.objects.filter(host=host_b).order_by("pk").values_list("kind", flat=True))
    assert kinds[:3] == ["heartbeat-missed", "isolated", "fenced"]
    assert kinds.count("restart") == 3
    failover = Operation.objects.get(kind="host.failover")
    assert failover.status == "succeeded"


def test_no_restart_when_fencing_fails(hosts, victims, fake_migrations, run_tasks, admin_user):
    host_b = hosts[1]
    power.configure_power(
        admin_user, host_b, kind=c.PowerDriverKind.REDFISH, address=CLOSED_PORT_URL, username="root", password="calvin"
    )
    lose(host_b)
    miss_heartbeats_for(host_b, 60, run_tasks)
    assert fake_migrations.calls == []
    assert all(i.host_id == host_b.pk for i in Instance.objects.filter(pk__in=[v.pk for v in victims.values()]))
    assert HostPower.objects.get(host=host_b).ha_state == c.HaState.FENCE_FAILED
    failover = Operation.objects.get(kind="host.failover")
    assert failover.status == "failed"
    assert "Fencing host-b failed" in failover.message and "unreachable" in failover.message
    assert HaEvent.objects.filter(host=host_b, kind=c.HaEventKind.FENCE_FAILED).exists()


def test_a_simulated_fence_failure_also_restarts_nothing(hosts, victims, fake_migrations, run_tasks):
    simulated.fail_next(str(hosts[1].pk))
    lose(hosts[1])
    miss_heartbeats_for(hosts[1], 60, run_tasks)
    assert fake_migrations.calls == []


def test_ha_disabled_fences_nothing(cluster, hosts, victims, fake_migrations, run_tasks):
    recommendations.update_settings(None, cluster, ha_enabled=False)
    lose(hosts[1])
    miss_heartbeats_for(hosts[1], 600, run_tasks)
    assert simulated.state_of(str(hosts[1].pk)) == PowerStatus.ON
    assert fake_migrations.calls == []


def test_a_returning_host_is_healthy_again(hosts, run_tasks):
    uri = hosts[1].uri
    lose(hosts[1])
    with run_tasks():
        ha.heartbeat()
    Host.objects.filter(pk=hosts[1].pk).update(uri=uri)
    with run_tasks():
        ha.heartbeat()
    assert HostPower.objects.get(host=hosts[1]).ha_state == c.HaState.HEALTHY
    assert HaEvent.objects.filter(host=hosts[1], kind=c.HaEventKind.RECOVERED).exists()
