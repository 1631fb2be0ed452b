"""DPM wake-on-demand for HA capacity: a start (or create) that admission control refuses as the
cluster is, but would admit with a standby host's capacity, wakes that host first (its
Operation and the request's show it) instead of failing; without such a host it is refused
as before, with nothing woken."""

import pytest

from compute.choices import Action, HostState, InstanceState
from compute.models import Flavor, Instance
from compute.services import instances as compute_services
from portal.errors import ActionError
from portal.models import Operation
from scheduler import choices as c
from scheduler.models import HaEvent
from scheduler.power import PowerStatus, simulated

# host-a 128 GiB, host-b 96 GiB, host-c 64 GiB. HA keeps room for one host failure (the
# largest): with host-c in standby 224 - 128 = 96 GiB may run, with it up 288 - 128 = 160.
LOAD_GB = (50, 45)


@pytest.fixture
def small(db):
    return Flavor.objects.create(name="m1.small", vcpus=1, ram_mb=2048, disk_gb=10)


@pytest.fixture
def stopped(c_in_standby, hosts, small, image, admin_user, project_a, run_tasks):
    """A real (test-driver) instance on host-a, stopped; then 95 GiB of load on host-a and -b."""
    with run_tasks():
        instance, _ = compute_services.create_instance(
            admin_user, project_a, name="db-1", flavor=small, image=image, hints={"host": hosts[0].pk}
        )
    with run_tasks():
        compute_services.stop(admin_user, Instance.objects.get(pk=instance.pk), force=True)
    instance = Instance.objects.get(pk=instance.pk)
    assert instance.state == InstanceState.SHUTOFF
    return instance


def load(make_instance, hosts):
    for host, gb in zip(hosts, LOAD_GB, strict=False):
        make_instance(host, f"load-{host.name}", ram_gb=gb)


def test_a_start_only_a_standby_hosts_capacity_admits_wakes_it_first(
    stopped, c_in_standby, hosts, make_instance, admin_user, run_tasks
):
    load(make_instance, hosts)
    with run_tasks():
        op = compute_services.act(admin_user, stopped, Action.START)
    op.refresh_from_db()

    assert op.status == "succeeded", op.error
    assert op.detail["wake_host"] == c_in_standby.pk and op.detail["wake_host_name"] == "host-c"
    wake = Operation.objects.get(kind="host.wake", target_id=str(c_in_standby.pk))
    assert wake.status == "succeeded" and f"operation {op.pk}" in wake.detail["reason"]
    c_in_standby.refresh_from_db()
    assert c_in_standby.state == HostState.UP and simulated.state_of(str(c_in_standby.pk)) == PowerStatus.ON
    instance = Instance.objects.get(pk=stopped.pk)
    assert instance.state == InstanceState.ACTIVE and instance.host_id == hosts[0].pk  # it stays where it was
    assert not HaEvent.objects.filter(kind=c.HaEventKind.ADMISSION_REFUSED).exists()


def test_a_start_admitted_as_things_are_wakes_nothing(stopped, c_in_standby, admin_user, run_tasks):
    with run_tasks():
        op = compute_services.act(admin_user, stopped, Action.START)
    op.refresh_from_db()
    assert op.status == "succeeded" and "wake_host" not in op.detail
    assert not Operation.objects.filter(kind="host.wake").exists()
    c_in_standby.refresh_from_db()
    assert c_in_standby.state == HostState.STANDBY


def test_a_start_no_standby_host_would_admit_is_refused_and_wakes_nothing(
    stopped, hosts, make_instance, admin_user, run_tasks
):
    load(make_instance, hosts)
    make_instance(hosts[1], "more", ram_gb=40)
    make_instance(hosts[0], "much-more", ram_gb=30)  # 165 GiB running: past 160, even with host-c up
    with pytest.raises(ActionError, match="admission control"):
        compute_services.act(admin_user, stopped, Action.START)
    assert not Operation.objects.filter(kind__in=("host.wake", "instance.start")).exists()
    assert HaEvent.objects.filter(kind=c.HaEventKind.ADMISSION_REFUSED, instance=stopped).count() == 1


def test_a_create_only_a_standby_hosts_capacity_admits_wakes_it_first(
    c_in_standby, hosts, make_instance, small, image, admin_user, project_a, run_tasks
):
    load(make_instance, hosts)
    with run_tasks():
        instance, op = compute_services.create_instance(admin_user, project_a, name="web-1", flavor=small, image=image)
    op.refresh_from_db()

    assert op.status == "succeeded", op.error
    assert op.detail["wake_host"] == c_in_standby.pk
    assert Operation.objects.get(kind="host.wake", target_id=str(c_in_standby.pk)).status == "succeeded"
    instance = Instance.objects.get(pk=instance.pk)
    assert instance.state == InstanceState.ACTIVE and instance.host_id != c_in_standby.pk  # placed on a running host
    assert instance.events.filter(kind="create", detail__contains="waking host-c from standby for HA capacity").exists()
