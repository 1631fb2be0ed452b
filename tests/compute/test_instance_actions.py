"""The instance lifecycle through the API on a simulated host: each action is a 202 with an
Operation, the row follows libvirt, and one action at a time per instance."""

import pytest

import hypervisor as hv
from compute.choices import InstanceState, PowerState
from compute.models import Flavor, Image, Instance
from portal import operations
from portal.models import Operation, Quota


@pytest.fixture
def running(launch):
    response, instance = launch()
    assert response.status_code == 202
    return instance


def post(api, run_tasks, instance, action, user="alice", **body):
    with run_tasks():
        response = api[user].post(f"/api/v1/instances/{instance.pk}/{action}/", body, format="json")
    instance.refresh_from_db()
    return response


def op_of(response):
    return Operation.objects.get(pk=response.json()["id"])


def libvirt_state(instance):
    return hv.domain_state(instance.host.uri, str(instance.uuid))


def test_stop_and_start(api, run_tasks, running):
    response = post(api, run_tasks, running, "stop", timeout=5)
    assert response.status_code == 202 and op_of(response).status == "succeeded"
    assert (running.state, running.power_state) == (InstanceState.SHUTOFF, PowerState.SHUTOFF)
    assert "Shut down by the guest" in op_of(response).message
    assert post(api, run_tasks, running, "start").status_code == 202
    assert running.state == InstanceState.ACTIVE and libvirt_state(running).state == "running"


def test_a_forced_stop_says_so(api, run_tasks, running):
    response = post(api, run_tasks, running, "stop", force=True)
    assert op_of(response).message == "Powered off (forced)"
    assert libvirt_state(running).state == "shutoff"


@pytest.mark.parametrize("kind", ["soft", "hard"])
def test_reboot_keeps_it_running(api, run_tasks, running, kind):
    response = post(api, run_tasks, running, "reboot", kind=kind)
    assert op_of(response).status == "succeeded"
    assert running.state == InstanceState.ACTIVE


def test_suspend_saves_to_disk_and_resume_restores(api, run_tasks, running):
    post(api, run_tasks, running, "suspend")
    assert (running.state, running.power_state) == (InstanceState.SUSPENDED, PowerState.SUSPENDED)
    post(api, run_tasks, running, "resume")
    assert running.state == InstanceState.ACTIVE


def test_pause_and_unpause(api, run_tasks, running):
    post(api, run_tasks, running, "pause")
    assert running.state == InstanceState.PAUSED and libvirt_state(running).state == "paused"
    post(api, run_tasks, running, "unpause")
    assert running.state == InstanceState.ACTIVE


def test_an_action_from_the_wrong_state_is_a_409(api, run_tasks, running):
    response = post(api, run_tasks, running, "start")
    assert response.status_code == 409 and "active" in response.json()["detail"]


def test_a_second_action_while_one_runs_is_a_409_naming_it(api, running):
    busy = operations.begin("instance.stop", running)
    response = api["alice"].post(f"/api/v1/instances/{running.pk}/reboot/", {}, format="json")
    assert response.status_code == 409
    assert response.json()["operation"] == busy.pk


def test_delete_removes_domain_and_disk_and_frees_quota(api, run_tasks, running, project_a):
    with run_tasks():
        response = api["alice"].delete(f"/api/v1/instances/{running.pk}/")
    assert response.status_code == 202 and op_of(response).status == "succeeded"
    running.refresh_from_db()
    assert running.state == InstanceState.DELETED
    assert hv.list_domains(running.host.uri) == ()
    assert running.root_volume not in {v.name for v in hv.list_volumes(running.host.uri, "default")}
    assert Quota.objects.get(project=project_a, resource="instances").in_use == 0
    assert api["alice"].get(f"/api/v1/instances/{running.pk}/").status_code == 404


def test_delete_removes_the_serial_log_on_the_host_after_the_domain(api, run_tasks, running, monkeypatch):
    removed = []
    monkeypatch.setattr(
        "compute.domain.remove_serial_log",
        lambda uri, path: removed.append((uri, path, hv.list_domains(uri))),
    )
    Instance.objects.filter(pk=running.pk).update(serial_log_path="/var/log/nubes/x-serial.log")
    with run_tasks():
        response = api["alice"].delete(f"/api/v1/instances/{running.pk}/")
    assert op_of(response).status == "succeeded", op_of(response).error
    assert removed == [(running.host.uri, "/var/log/nubes/x-serial.log", ())]  # the domain gone first
    assert "serial log removed" in op_of(response).message


def test_rename_changes_the_domain_title(api, run_tasks, running):
    with run_tasks():
        response = api["alice"].patch(f"/api/v1/instances/{running.pk}/", {"name": "db & <cache>"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "db & <cache>"
    xml = hv.domain_xml(running.host.uri, str(running.uuid), inactive=True)
    assert hv.parse_domain_xml(xml).title == "db & <cache>"


def test_live_resize_adds_vcpus_and_takes_quota(api, run_tasks, running, project_a):
    bigger = Flavor.objects.create(name="m1.small2", vcpus=2, ram_mb=2048, disk_gb=20)
    response = post(api, run_tasks, running, "resize", flavor=bigger.pk)
    assert op_of(response).status == "succeeded", op_of(response).error
    assert "live" in op_of(response).message
    assert running.vcpus == 2 and libvirt_state(running).vcpus == 2
    assert Quota.objects.get(project=project_a, resource="vcpus").in_use == 2


def test_a_resize_that_needs_a_cold_resize_refuses_a_running_instance(api, run_tasks, running):
    more_ram = Flavor.objects.create(name="m1.medium", vcpus=2, ram_mb=4096, disk_gb=20)
    response = post(api, run_tasks, running, "resize", flavor=more_ram.pk)
    assert response.status_code == 409 and "stop the instance first" in response.json()["detail"]


def test_cold_resize_redefines_the_stopped_domain(api, run_tasks, running):
    more_ram = Flavor.objects.create(name="m1.medium", vcpus=2, ram_mb=4096, disk_gb=20)
    post(api, run_tasks, running, "stop", force=True)
    response = post(api, run_tasks, running, "resize", flavor=more_ram.pk)
    assert op_of(response).status == "succeeded", op_of(response).error
    assert libvirt_state(running).max_memory_kib == 4096 * 1024 and running.ram_mb == 4096


def test_cold_resize_grows_the_root_disk(api, run_tasks, running, project_a):
    bigger_disk = Flavor.objects.create(name="m1.small-80", vcpus=1, ram_mb=2048, disk_gb=80)
    post(api, run_tasks, running, "stop", force=True)
    response = post(api, run_tasks, running, "resize", flavor=bigger_disk.pk)
    assert op_of(response).status == "succeeded", op_of(response).error
    volume = hv.volume_info(running.host.uri, "default", running.root_volume)
    assert volume.capacity_bytes == 80 * 1024**3 and volume.backing_path
    assert Quota.objects.get(project=project_a, resource="disk_gb").in_use == 80


def test_rebuild_replaces_the_root_disk(api, run_tasks, running):
    other = Image.objects.create(name="debian", volume="debian.qcow2", virtual_size_gb=2)
    response = post(api, run_tasks, running, "rebuild", image=other.pk)
    assert op_of(response).status == "succeeded", op_of(response).error
    volume = hv.volume_info(running.host.uri, "default", running.root_volume)
    assert volume.backing_path.endswith("debian.qcow2")
    assert running.image == other and running.state == InstanceState.ACTIVE


def test_a_locked_instance_refuses_members_but_not_project_admins(api, run_tasks, running, alice, project_a):
    assert post(api, run_tasks, running, "lock").status_code == 200
    response = post(api, run_tasks, running, "stop")
    assert response.status_code == 409 and "locked" in response.json()["detail"]
    assert post(api, run_tasks, running, "unlock").status_code == 403
    alice.memberships.update(role="admin")
    assert post(api, run_tasks, running, "stop").status_code == 202


def test_balloon_target_is_set_live(api, run_tasks, running):
    response = post(api, run_tasks, running, "set-balloon", memory_mb=1024)
    assert op_of(response).status == "succeeded"
    assert libvirt_state(running).memory_kib == 1024 * 1024 and running.balloon_mb == 1024


def test_a_balloon_bigger_than_the_flavor_is_refused(api, run_tasks, running):
    assert post(api, run_tasks, running, "set-balloon", memory_mb=999999).status_code == 400
    assert post(api, run_tasks, running, "set-balloon", memory_mb=-5).status_code == 400


def test_cpu_qos_goes_into_the_config_on_a_simulated_host(api, run_tasks, running):
    response = post(api, run_tasks, running, "set-cpu-qos", shares=512, limit_pct=25)
    op = op_of(response)
    assert op.status == "succeeded" and "simulated" in op.message
    info = hv.parse_domain_xml(hv.domain_xml(running.host.uri, str(running.uuid), inactive=True))
    assert (info.cpu_shares, info.cpu_period, info.cpu_quota) == (512, 100_000, 25_000)


def test_a_host_failure_mid_action_fails_the_operation_and_records_the_state(api, run_tasks, running, monkeypatch):
    def unreachable(uri, uuid):
        raise hv.HostUnreachable("connection reset", uri=uri)

    monkeypatch.setattr(hv, "domain_suspend", unreachable)
    response = post(api, run_tasks, running, "pause")
    assert op_of(response).status == "failed" and "connection reset" in op_of(response).error
    assert running.state == InstanceState.ACTIVE and "connection reset" in running.state_reason
    assert Instance.objects.get(pk=running.pk).events.filter(kind="pause failed").exists()
