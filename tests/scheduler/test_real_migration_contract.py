"""The scheduler against compute's real migration verbs on simulated hosts: instances built
by compute's own create task, a DRS recommendation approved, the simulated live migrations
run by compute's migration task, the imbalance measured after."""
import pytest

from compute import migration, migration_tasks, services as compute_services
from compute.models import Flavor, Instance
from scheduler import choices as c, services

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
            instance, _op = compute_services.create_instance(admin_user, project_a, name=f"web-{n}", flavor=flavor,
                                                             image=image, hints={"host": hosts[0].pk})
        made.append(instance)
    assert all(Instance.objects.get(pk=i.pk).state == "active" for i in made)
    return made


def test_without_a_cpu_baseline_the_newer_host_s_guests_cannot_move(cluster, built, admin_user, no_pacing,
                                                                    run_tasks):
    rec = services.run_drs(cluster).recommendation
    with run_tasks():
        services.approve(admin_user, rec)
    rec.refresh_from_db()
    assert rec.state == c.RecommendationState.FAILED
    assert "Set a cluster CPU baseline (EVC)" in rec.error


def test_an_approved_drs_recommendation_moves_instances_with_compute_s_migrations(cluster, built, admin_user,
                                                                                  no_pacing, run_tasks):
    with run_tasks():
        services.request_evc(admin_user, cluster)  # host-a's guests may then run on the older hosts
    rec = services.run_drs(cluster).recommendation
    assert rec is not None
    with run_tasks():
        services.approve(admin_user, rec)
    rec.refresh_from_db()
    assert rec.state == c.RecommendationState.APPLIED, (rec.error, [(o.kind, o.status, o.message) for o in rec.operations.all()])
    assert {op.kind for op in rec.operations.all()} == {"instance.migrate"}
    for move in rec.moves:
        assert str(Instance.objects.get(pk=move["instance"]).host_id) == move["target"]
    assert rec.imbalance_after < rec.imbalance_before


def test_ha_restarts_use_compute_s_restart_verb(hosts, built):
    if not hasattr(migration, "restart_on"):
        pytest.skip("compute.migration.restart_on (restart a fenced host's instance elsewhere) is not there yet")
    assert callable(migration.restart_on)
