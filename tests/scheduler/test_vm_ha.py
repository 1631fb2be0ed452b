"""VM-level HA on simulated hosts: an HA instance that stops or crashes without Nubes asking
(a libvirt lifecycle event, or the reconciler finding it shut off) is started again, at most
the cluster's restart limit times per window; a Nubes stop, a guest's own shutdown and an
unprotected instance stay off."""

from datetime import timedelta

import pytest

import hypervisor as hv
from compute.models import Flavor, HaPriority, Instance
from compute.services import instances as compute_services
from compute.tasks import hosts as host_tasks
from compute.tasks import lifecycle
from portal.models import Operation
from scheduler import choices as c
from scheduler.models import HaEvent
from scheduler.services import recommendations
from scheduler.tasks import failover


@pytest.fixture
def guest(cluster, hosts, image, project_a, admin_user, run_tasks):
    recommendations.update_settings(None, cluster, ha_enabled=True)  # an admin turns HA on
    flavor = Flavor.objects.create(name="m1.small", vcpus=1, ram_mb=2048, disk_gb=10)
    with run_tasks():
        instance, _op = compute_services.create_instance(
            admin_user, project_a, name="db-1", flavor=flavor, image=image, hints={"host": hosts[0].pk}
        )
    instance = Instance.objects.get(pk=instance.pk)
    assert instance.state == "active"
    return instance


def kill_outside_nubes(instance):
    hv.domain_destroy(instance.host.uri, str(instance.uuid))


def libvirt_says(instance, run_tasks, event="stopped", detail="crashed"):
    with run_tasks():
        lifecycle.lifecycle_event(instance.host.uri, str(instance.uuid), event, detail)
    return Instance.objects.get(pk=instance.pk)


def restarts_of(instance):
    return Operation.objects.filter(kind="instance.start", target_id=str(instance.pk))


def test_a_crashed_ha_instance_is_started_again(guest, run_tasks):
    kill_outside_nubes(guest)
    instance = libvirt_says(guest, run_tasks, "stopped", "crashed")
    assert instance.state == "active" and instance.power_state == "running"
    assert hv.domain_state(instance.host.uri, str(instance.uuid)).state == "running"
    op = restarts_of(guest).get()
    assert op.status == "succeeded" and op.requester is None and "crashed" in op.message
    assert HaEvent.objects.filter(instance=guest, kind=c.HaEventKind.VM_RESTART, operation=op).exists()


def test_the_reconciler_finding_it_shut_off_restarts_it(guest, run_tasks):
    kill_outside_nubes(guest)
    with run_tasks():
        counts = host_tasks.reconcile_host(guest.host)
    assert counts["drift"] == 1
    instance = Instance.objects.get(pk=guest.pk)
    assert instance.state == "active"
    assert "reconciler" in HaEvent.objects.get(instance=guest, kind=c.HaEventKind.VM_RESTART).detail


def test_restarts_stop_at_the_limit_within_the_window(cluster, guest, run_tasks):
    recommendations.update_settings(None, cluster, ha_restart_limit=2, ha_restart_window_s=600)
    for _ in range(2):
        kill_outside_nubes(guest)
        assert libvirt_says(guest, run_tasks).state == "active"
    kill_outside_nubes(guest)
    instance = libvirt_says(guest, run_tasks)
    assert instance.state == "shutoff"
    assert restarts_of(guest).count() == 2
    limit = HaEvent.objects.get(instance=guest, kind=c.HaEventKind.RESTART_LIMIT)
    assert "2 restart(s) within 600 s" in limit.detail


def test_restarts_older_than_the_window_do_not_count(cluster, guest, run_tasks):
    recommendations.update_settings(None, cluster, ha_restart_limit=1, ha_restart_window_s=60)
    kill_outside_nubes(guest)
    assert libvirt_says(guest, run_tasks).state == "active"
    HaEvent.objects.filter(instance=guest).update(created=guest.created - timedelta(minutes=5))
    kill_outside_nubes(guest)
    assert libvirt_says(guest, run_tasks).state == "active"
    assert restarts_of(guest).count() == 2


def test_a_nubes_stop_is_not_a_failure(guest, admin_user, run_tasks):
    with run_tasks():
        compute_services.stop(admin_user, guest, force=True)
    instance = libvirt_says(Instance.objects.get(pk=guest.pk), run_tasks, "stopped", "destroyed")
    assert instance.state == "shutoff"
    assert not restarts_of(guest).exists()
    assert not HaEvent.objects.filter(instance=guest).exists()


def test_the_guest_powering_itself_off_stays_off(guest, run_tasks):
    kill_outside_nubes(guest)
    assert libvirt_says(guest, run_tasks, "stopped", "shutdown").state == "shutoff"
    assert not restarts_of(guest).exists()


def test_an_instance_without_ha_stays_off(guest, run_tasks):
    Instance.objects.filter(pk=guest.pk).update(ha_priority=HaPriority.DISABLED)
    kill_outside_nubes(guest)
    assert libvirt_says(Instance.objects.get(pk=guest.pk), run_tasks).state == "shutoff"
    assert not restarts_of(guest).exists()


def test_ha_disabled_on_the_cluster_restarts_nothing(cluster, guest, run_tasks):
    recommendations.update_settings(None, cluster, ha_enabled=False)
    kill_outside_nubes(guest)
    assert libvirt_says(guest, run_tasks).state == "shutoff"
    assert failover.restart_crashed(Instance.objects.get(pk=guest.pk), "again") is None
