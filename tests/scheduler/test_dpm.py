"""DPM: a quiet cluster evacuates a host and puts it in standby through its power driver;
a busy one wakes a standby host."""

import pytest

from compute.choices import HostState
from compute.models import Instance
from portal.errors import Conflict
from scheduler import choices as c
from scheduler.power import PowerStatus, simulated
from scheduler.services import power, recommendations

RS = c.RecommendationState


@pytest.fixture
def dpm_on(cluster):
    recommendations.update_settings(None, cluster, dpm_enabled=True, ha_enabled=False)
    return cluster


def test_a_quiet_cluster_puts_a_host_in_standby_through_the_simulated_driver(
    dpm_on, hosts, make_instance, admin_user, fake_migrations, run_tasks
):
    make_instance(hosts[0], "a1", ram_gb=4)
    make_instance(hosts[2], "c1", ram_gb=2)
    rec = recommendations.run_dpm(dpm_on).recommendation
    assert rec is not None and rec.kind == c.RecommendationKind.DPM
    [action] = rec.power_actions
    assert action["action"] == "standby"
    sleeper = next(h for h in hosts if str(h.pk) == action["host"])
    with run_tasks():
        recommendations.approve(admin_user, rec)
    rec.refresh_from_db()
    assert rec.state == RS.APPLIED, rec.error
    sleeper.refresh_from_db()
    assert sleeper.state == HostState.STANDBY
    assert simulated.state_of(str(sleeper.pk)) == PowerStatus.OFF
    assert not Instance.objects.filter(host=sleeper).exists()
    assert sleeper.power.power_state == c.PowerState.OFF


def test_a_busy_cluster_wakes_a_standby_host(dpm_on, busy_with_c_in_standby, admin_user, run_tasks):
    host_c = busy_with_c_in_standby
    rec = recommendations.run_dpm(dpm_on).recommendation
    assert [a["action"] for a in rec.power_actions] == ["wake"]
    with run_tasks():
        recommendations.approve(admin_user, rec)
    rec.refresh_from_db()
    host_c.refresh_from_db()
    assert rec.state == RS.APPLIED, rec.error
    assert host_c.state == HostState.UP
    assert simulated.state_of(str(host_c.pk)) == PowerStatus.ON


def test_a_host_with_instances_is_not_powered_off(hosts, make_instance, admin_user):
    make_instance(hosts[0], "a1")
    with pytest.raises(Conflict, match="evacuate"):
        power.request_power(admin_user, hosts[0], c.PowerAction.OFF)


def test_a_power_failure_fails_the_operation_with_the_reason(hosts, admin_user, run_tasks):
    simulated.fail_next(str(hosts[2].pk))
    with run_tasks():
        op = power.request_power(admin_user, hosts[2], c.PowerAction.OFF)
    op.refresh_from_db()
    assert op.status == "failed" and "did not answer" in op.message
    hosts[2].refresh_from_db()
    assert hosts[2].state == HostState.UP


def test_a_failed_standby_leaves_the_host_up(hosts, admin_user, run_tasks):
    simulated.fail_next(str(hosts[2].pk))
    with run_tasks():
        op = power.request_power(admin_user, hosts[2], c.PowerAction.STANDBY)
    op.refresh_from_db()
    hosts[2].refresh_from_db()
    assert op.status == "failed" and hosts[2].state == HostState.UP
