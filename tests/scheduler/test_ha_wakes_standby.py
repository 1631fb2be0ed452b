"""HA restarts that no powered-on host can take wake a standby host (DPM's wake path, one
wake per host) once the failed host is fenced, then restart there; a wake that fails leaves
those instances where they were with an HA event naming the host and why."""

import pytest

from compute.choices import HostState
from compute.models import Instance
from portal.models import Operation
from scheduler import choices as c
from scheduler.models import HaEvent, HostPower
from scheduler.power import PowerStatus, simulated
from tests.scheduler.test_ha import lose, miss_heartbeats_for


@pytest.fixture
def c_asleep(hosts, c_in_standby, make_instance):
    """host-c in standby, host-a nearly full: host-b's big instances fit only on host-c."""
    make_instance(hosts[0], "full-a", ram_gb=120)
    return c_in_standby


@pytest.fixture
def on_b(hosts, make_instance):
    host_b = hosts[1]
    return {
        "low": make_instance(host_b, "low", ram_gb=20, ha_priority=1),
        "high": make_instance(host_b, "high", ram_gb=20, ha_priority=3),
        "small": make_instance(host_b, "small", ram_gb=2, ha_priority=2),
    }


def restarted(fake_migrations):
    return [call[1] for call in fake_migrations.calls if call[0] == "restart"]


def test_a_restart_with_no_room_wakes_the_standby_host_once_and_restarts_there(
    hosts, c_asleep, on_b, fake_migrations, run_tasks
):
    lose(hosts[1])
    miss_heartbeats_for(hosts[1], 60, run_tasks)

    assert restarted(fake_migrations) == [on_b["small"].pk, on_b["high"].pk, on_b["low"].pk]
    assert Instance.objects.get(pk=on_b["small"].pk).host_id == hosts[0].pk
    assert {Instance.objects.get(pk=on_b[n].pk).host_id for n in ("high", "low")} == {c_asleep.pk}
    wake = Operation.objects.get(kind="host.wake", target_id=str(c_asleep.pk))
    failover = Operation.objects.get(kind="host.failover")
    assert wake.status == "succeeded" and f"operation {failover.pk}" in wake.detail["reason"]
    assert failover.status == "succeeded" and "3 restart(s) started" in failover.message
    c_asleep.refresh_from_db()
    assert c_asleep.state == HostState.UP and simulated.state_of(str(c_asleep.pk)) == PowerStatus.ON
    assert HaEvent.objects.filter(kind=c.HaEventKind.RESTART, detail__contains="woken from standby").count() == 2
    assert not HaEvent.objects.filter(kind=c.HaEventKind.NO_HOST).exists()


def test_a_failed_wake_restarts_nothing_there_and_says_which_host_and_why(
    hosts, c_asleep, on_b, fake_migrations, run_tasks
):
    simulated.fail_next(str(c_asleep.pk))
    lose(hosts[1])
    miss_heartbeats_for(hosts[1], 60, run_tasks)

    assert restarted(fake_migrations) == [on_b["small"].pk]
    for name in ("high", "low"):
        assert Instance.objects.get(pk=on_b[name].pk).host_id == hosts[1].pk
        no_host = HaEvent.objects.get(kind=c.HaEventKind.NO_HOST, instance=on_b[name])
        assert "host-c" in no_host.detail and "did not answer" in no_host.detail
    c_asleep.refresh_from_db()
    assert c_asleep.state == HostState.STANDBY
    assert Operation.objects.get(kind="host.wake").status == "failed"


def test_no_host_is_woken_when_the_fence_fails(hosts, c_asleep, on_b, fake_migrations, run_tasks):
    simulated.fail_next(str(hosts[1].pk))
    lose(hosts[1])
    miss_heartbeats_for(hosts[1], 60, run_tasks)

    assert HostPower.objects.get(host=hosts[1]).ha_state == c.HaState.FENCE_FAILED
    assert fake_migrations.calls == [] and not Operation.objects.filter(kind="host.wake").exists()
    c_asleep.refresh_from_db()
    assert c_asleep.state == HostState.STANDBY
