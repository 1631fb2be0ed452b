"""Maintenance with no powered-on host to take the instances: the evacuation wakes a standby
host (the scheduler's DPM wake path, once) and migrates there; when the wake fails the
instances stay on the host and their migrations say which host did not wake and why."""

import pytest

from compute.choices import HostState
from compute.models import Instance, Migration, MigrationState
from portal.models import Operation
from scheduler import choices as c
from scheduler.power import simulated
from scheduler.services import power, recommendations
from tests.compute.live_helpers import baseline, instant, on_host  # noqa: F401
from tests.compute.test_host_maintenance import set_state


@pytest.fixture
def b_asleep(cluster, hosts, admin_user, run_tasks):
    """host-b in standby through DPM's power path; HA admission control off (one host up)."""
    simulated.reset()
    recommendations.update_settings(None, cluster, ha_enabled=False)
    with run_tasks():
        power.request_power(admin_user, hosts[1], c.PowerAction.STANDBY)
    hosts[1].refresh_from_db()
    assert hosts[1].state == HostState.STANDBY
    yield hosts[1]
    simulated.reset()


def test_maintenance_with_no_room_wakes_a_standby_host_once_and_migrates_there(
    api, launch, run_tasks, hosts, b_asleep, baseline, instant
):
    instances = [launch(name=f"vm-{n}")[1] for n in range(2)]
    assert {i.host_id for i in instances} == {hosts[0].pk}

    response = set_state(api, run_tasks, hosts[0], HostState.MAINTENANCE)

    assert response.status_code == 200, response.content
    b_asleep.refresh_from_db()
    assert b_asleep.state == HostState.UP
    assert Operation.objects.filter(kind="host.wake", target_id=str(b_asleep.pk)).count() == 1
    wake = Operation.objects.get(kind="host.evacuation_wake")
    assert wake.status == "succeeded" and "host-b" in wake.message
    assert set(Migration.objects.values_list("state", flat=True)) == {MigrationState.SUCCEEDED}
    assert set(Instance.objects.values_list("host", flat=True)) == {b_asleep.pk}
    assert all(on_host(i, b_asleep) == "running" for i in instances)


def test_a_failed_wake_keeps_the_instances_and_names_the_host(
    api, launch, run_tasks, hosts, b_asleep, baseline, instant
):
    _response, instance = launch()
    simulated.fail_next(str(b_asleep.pk))

    response = set_state(api, run_tasks, hosts[0], HostState.MAINTENANCE)

    assert response.status_code == 200 and hosts[0].state == HostState.MAINTENANCE
    migration = Migration.objects.get()
    assert migration.state == MigrationState.FAILED
    assert "host-b" in migration.error and "did not answer" in migration.error
    wake = Operation.objects.get(kind="host.evacuation_wake")
    assert wake.status == "failed" and "host-b" in wake.message
    instance.refresh_from_db()
    assert instance.host_id == hosts[0].pk and on_host(instance, hosts[0]) == "running"
    b_asleep.refresh_from_db()
    assert b_asleep.state == HostState.STANDBY
