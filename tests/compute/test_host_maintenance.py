"""Maintenance mode: an up host set to maintenance (API set-state) is evacuated through
compute.migration.evacuate_host, on simulated hosts; an empty or down host just changes state."""

from compute.choices import HostState
from compute.models import Instance, Migration, MigrationState
from tests.compute.live_helpers import baseline, instant, on_host  # noqa: F401


def set_state(api, run_tasks, host, state, **body):
    with run_tasks():
        response = api["admin"].post(f"/api/v1/hosts/{host.pk}/set-state/", {"state": state, **body}, format="json")
    host.refresh_from_db()
    return response


def test_maintenance_migrates_every_running_instance_off_the_host(api, launch, run_tasks, hosts, baseline, instant):
    instances = [launch(name=f"vm-{n}")[1] for n in range(3)]
    assert {i.host_id for i in instances} == {hosts[0].pk}
    response = set_state(api, run_tasks, hosts[0], HostState.MAINTENANCE, reason="new DIMMs")
    assert response.status_code == 200, response.content
    assert hosts[0].state == HostState.MAINTENANCE and hosts[0].state_reason == "new DIMMs"
    assert set(Migration.objects.values_list("state", flat=True)) == {MigrationState.SUCCEEDED}
    assert set(Migration.objects.values_list("evacuating", flat=True)) == {hosts[0].pk}
    assert set(Instance.objects.values_list("host", flat=True)) == {hosts[1].pk}
    assert all(on_host(i, hosts[1]) == "running" for i in instances)


def test_maintenance_without_a_target_keeps_the_instance_and_says_why(api, launch, run_tasks, hosts, baseline, instant):
    _response, instance = launch()
    set_state(api, run_tasks, hosts[1], HostState.DOWN)
    response = set_state(api, run_tasks, hosts[0], HostState.MAINTENANCE)
    assert response.status_code == 200 and hosts[0].state == HostState.MAINTENANCE
    migration = Migration.objects.get()
    assert migration.state == MigrationState.FAILED and "No host can take" in migration.error
    instance.refresh_from_db()
    assert instance.host_id == hosts[0].pk and on_host(instance, hosts[0]) == "running"


def test_an_empty_host_goes_to_maintenance_with_no_migration(api, run_tasks, hosts):
    response = set_state(api, run_tasks, hosts[0], HostState.MAINTENANCE)
    assert response.status_code == 200 and hosts[0].state == HostState.MAINTENANCE
    assert hosts[0].state_reason == "Evacuating" and not Migration.objects.exists()


def test_members_cannot_put_a_host_in_maintenance(api, hosts):
    response = api["alice"].post(f"/api/v1/hosts/{hosts[0].pk}/set-state/", {"state": "maintenance"}, format="json")
    assert response.status_code == 403
    hosts[0].refresh_from_db()
    assert hosts[0].state == HostState.UP
