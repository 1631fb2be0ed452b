"""The scheduler against compute's real migration verbs on simulated hosts: instances built
by compute's own create task, a DRS recommendation approved, the simulated live migrations
run by compute's migration task, the imbalance measured after; HA restarts through
compute.migration.restart_on, which never calls the fenced source."""

from datetime import timedelta

import pytest
from django.utils import timezone

import hypervisor as hv
from compute.models import Flavor, Host, Instance
from compute.services import instances as compute_services
from compute.services import migration
from compute.tasks import migration as migration_tasks
from portal.errors import ActionError, Conflict
from portal.models import Operation
from scheduler import choices as c
from scheduler.models import HostPower
from scheduler.services import evc, recommendations
from scheduler.tasks import ha

RAM_MB = 16 * 1024


@pytest.fixture
def no_pacing(monkeypatch):
    # The simulated pre-copy sleeps in proportion to memory; the sequence is what we test.
    monkeypatch.setattr(migration_tasks, "_sleep", lambda seconds: None)


@pytest.fixture
def built(hosts, image, project_a, admin_user, run_tasks):
    flavor = Flavor.objects.create(name="m1.xl", vcpus=2, ram_mb=RAM_MB, disk_gb=10)
    made = []
    for n in range(4):
        with run_tasks():
            instance, _op = compute_services.create_instance(
                admin_user, project_a, name=f"web-{n}", flavor=flavor, image=image, hints={"host": hosts[0].pk}
            )
        made.append(instance)
    assert all(Instance.objects.get(pk=i.pk).state == "active" for i in made)
    return made


def test_without_a_cpu_baseline_the_newer_host_s_guests_cannot_move(cluster, built, admin_user, no_pacing, run_tasks):
    rec = recommendations.run_drs(cluster).recommendation
    with run_tasks():
        recommendations.approve(admin_user, rec)
    rec.refresh_from_db()
    assert rec.state == c.RecommendationState.FAILED
    assert "Set a cluster CPU baseline (EVC)" in rec.error


def test_an_approved_drs_recommendation_moves_instances_with_compute_s_migrations(
    cluster, built, admin_user, no_pacing, run_tasks
):
    with run_tasks():
        evc.request_evc(admin_user, cluster)  # host-a's guests may then run on the older hosts
    rec = recommendations.run_drs(cluster).recommendation
    assert rec is not None
    with run_tasks():
        recommendations.approve(admin_user, rec)
    rec.refresh_from_db()
    assert rec.state == c.RecommendationState.APPLIED, (
        rec.error,
        [(o.kind, o.status, o.message) for o in rec.operations.all()],
    )
    assert {op.kind for op in rec.operations.all()} == {"instance.migrate"}
    for move in rec.moves:
        assert str(Instance.objects.get(pk=move["instance"]).host_id) == move["target"]
    assert rec.imbalance_after < rec.imbalance_before


def lose(host):
    """The host's libvirt stops answering: any call to it fails (HostUnreachable)."""
    Host.objects.filter(pk=host.pk).update(uri=f"test:///nonexistent/{host.name}.xml")


def test_restart_on_starts_a_fenced_host_s_instance_on_the_target_without_calling_the_source(hosts, built, run_tasks):
    instance = built[0]
    lose(hosts[0])  # any call to the fenced source would now fail the task
    Host.objects.filter(pk=hosts[0].pk).update(state="down")
    with run_tasks():
        op = migration.restart_on(instance, hosts[1], reason="test")
    op.refresh_from_db()
    assert op.kind == "instance.ha_restart" and op.status == "succeeded", op.message
    instance.refresh_from_db()
    assert instance.host_id == hosts[1].pk and instance.state == "active" and instance.power_state == "running"
    assert hv.domain_state(hosts[1].uri, str(instance.uuid)).state == "running"


def test_restart_on_refuses_while_the_source_is_not_fenced(hosts, built):
    with pytest.raises(Conflict, match="fenced and down"):
        migration.restart_on(built[0], hosts[1])
    assert not Operation.objects.filter(kind="instance.ha_restart").exists()


def test_restart_on_refuses_a_target_without_room(hosts, built):
    Host.objects.filter(pk=hosts[0].pk).update(state="down")
    Host.objects.filter(pk=hosts[2].pk).update(memory_mb=RAM_MB // 2)
    with pytest.raises(ActionError, match="has no room"):
        migration.restart_on(built[0], Host.objects.get(pk=hosts[2].pk))


def test_a_failed_start_leaves_the_instance_on_its_source_in_error(hosts, built, run_tasks, monkeypatch):
    def refuse(uri, uuid, paused=False):
        raise hv.OperationFailed("no start today")

    monkeypatch.setattr(hv, "domain_start", refuse)
    Host.objects.filter(pk=hosts[0].pk).update(state="down")
    with run_tasks():
        op = migration.restart_on(built[0], hosts[1])
    op.refresh_from_db()
    assert op.status == "failed" and "no start today" in op.message
    instance = Instance.objects.get(pk=built[0].pk)
    assert instance.host_id == hosts[0].pk and instance.state == "error"
    assert str(instance.uuid) not in {d.uuid for d in hv.list_domains(hosts[1].uri)}


def test_ha_fails_a_lost_host_over_with_compute_s_real_restart_verb(cluster, hosts, built, run_tasks):
    recommendations.update_settings(None, cluster, ha_enabled=True)
    lose(hosts[0])
    with run_tasks():
        ha.heartbeat()
    HostPower.objects.filter(host=hosts[0]).update(missing_since=timezone.now() - timedelta(seconds=600))
    with run_tasks():
        ha.heartbeat()
    failover = Operation.objects.get(kind="host.failover")
    assert failover.status == "succeeded", failover.message
    restarts = Operation.objects.filter(kind="instance.ha_restart")
    assert restarts.count() == len(built) and {op.status for op in restarts} == {"succeeded"}
    for instance in Instance.objects.filter(pk__in=[i.pk for i in built]):
        assert instance.host_id != hosts[0].pk and instance.state == "active"
        assert hv.domain_state(instance.host.uri, str(instance.uuid)).state == "running"
