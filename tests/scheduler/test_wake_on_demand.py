"""DPM wake-on-demand: a create that no powered-on host can take wakes a standby host that
can (through DPM's own power Operation), waits for it and builds there; a wake that fails or
times out fails the create with the host's name and leaves nothing behind; DPM then keeps the
woken host on for its hold-down."""

import pytest

import hypervisor as hv
from compute.choices import HostState, InstanceState
from compute.models import Flavor, Instance
from compute.services import instances as compute_services
from portal.models import Operation, Quota
from scheduler.power import PowerStatus, simulated
from scheduler.services import recommendations
from scheduler.tasks import power as power_tasks

BIG_RAM_MB = 40 * 1024  # host-a and host-b are full for this; host-c (64 GiB) is not


@pytest.fixture
def sleeping_c(cluster, busy_with_c_in_standby, project_a):
    """host-c in standby, host-a and host-b nearly full; HA admission control off."""
    recommendations.update_settings(None, cluster, ha_enabled=False)
    Quota.objects.filter(project=project_a).update(limit=10**9)
    return busy_with_c_in_standby


@pytest.fixture
def big_flavor(db):
    return Flavor.objects.create(name="m1.big", vcpus=2, ram_mb=BIG_RAM_MB, disk_gb=10)


def create(admin_user, project_a, flavor, image, run_tasks, name="web-1"):
    with run_tasks():
        instance, op = compute_services.create_instance(admin_user, project_a, name=name, flavor=flavor, image=image)
    op.refresh_from_db()
    return Instance.objects.get(pk=instance.pk), op


def ram_in_use(project):
    return Quota.objects.get(project=project, resource="ram_mb").in_use


def test_a_create_no_running_host_fits_wakes_the_standby_host_and_builds_there(
    sleeping_c, big_flavor, image, admin_user, project_a, run_tasks
):
    instance, op = create(admin_user, project_a, big_flavor, image, run_tasks)

    assert op.status == "succeeded", op.error
    assert op.detail["wake_host"] == sleeping_c.pk
    assert instance.host_id == sleeping_c.pk and instance.state == InstanceState.ACTIVE
    sleeping_c.refresh_from_db()
    assert sleeping_c.state == HostState.UP
    assert simulated.state_of(str(sleeping_c.pk)) == PowerStatus.ON
    wake = Operation.objects.get(kind="host.wake", target_id=str(sleeping_c.pk))
    assert wake.status == "succeeded" and f"operation {op.pk}" in wake.detail["reason"]
    assert instance.events.filter(kind="create", detail__contains="waking it from standby").exists()


def test_without_a_standby_host_that_fits_the_create_is_refused_as_before(
    sleeping_c, image, admin_user, project_a, run_tasks
):
    huge = Flavor.objects.create(name="m1.huge", vcpus=2, ram_mb=100 * 1024, disk_gb=10)
    with pytest.raises(compute_services.placement.NoValidHost):
        create(admin_user, project_a, huge, image, run_tasks)
    assert not Operation.objects.filter(kind="host.wake").exists()


def test_a_failed_wake_fails_the_create_naming_the_host_and_leaves_nothing(
    sleeping_c, big_flavor, image, admin_user, project_a, run_tasks
):
    before = ram_in_use(project_a)
    simulated.fail_next(str(sleeping_c.pk))

    instance, op = create(admin_user, project_a, big_flavor, image, run_tasks)

    assert op.status == "failed"
    assert "host-c" in op.message and "did not answer" in op.message
    assert instance.state == InstanceState.ERROR and not instance.quota_held
    assert ram_in_use(project_a) == before
    assert all(d.instance_id != str(instance.pk) for d in hv.list_domains(sleeping_c.uri))
    sleeping_c.refresh_from_db()
    assert sleeping_c.state == HostState.STANDBY


def test_a_host_that_does_not_come_up_in_time_fails_the_create(
    sleeping_c, big_flavor, image, admin_user, project_a, run_tasks, monkeypatch, settings
):
    settings.NUBES_DPM_WAKE_TIMEOUT = 0.05
    settings.NUBES_DPM_WAKE_POLL = 0.01
    monkeypatch.setattr(power_tasks, "reachable", lambda host: False)  # powered on, hypervisor silent
    before = ram_in_use(project_a)

    instance, op = create(admin_user, project_a, big_flavor, image, run_tasks)

    assert op.status == "failed"
    assert "host-c" in op.message and "did not come up within 0.05 s" in op.message
    assert instance.state == InstanceState.ERROR and ram_in_use(project_a) == before


def test_dpm_holds_a_host_woken_on_demand_on_for_its_hold_down(
    sleeping_c, big_flavor, image, admin_user, project_a, run_tasks, cluster, hosts, make_instance, settings
):
    instance, _op = create(admin_user, project_a, big_flavor, image, run_tasks)
    # The cluster goes quiet and host-c's guest stops: host-c is now DPM's lightest host.
    Instance.objects.filter(name__startswith="full-").delete()
    Instance.objects.filter(pk=instance.pk).update(state=InstanceState.SHUTOFF)
    make_instance(hosts[0], "quiet-a", ram_gb=30)
    make_instance(hosts[1], "quiet-b", ram_gb=30)
    recommendations.update_settings(None, cluster, dpm_enabled=True)

    def standby_hosts():
        rec = recommendations.run_dpm(cluster).recommendation
        return [a["host_name"] for a in rec.power_actions if a["action"] == "standby"] if rec else []

    assert recommendations.recently_woken(cluster) == {str(sleeping_c.pk)}
    assert "host-c" not in standby_hosts()
    settings.NUBES_DPM_WAKE_HOLD = 0  # past the hold-down DPM may empty it again
    assert "host-c" in standby_hosts()
