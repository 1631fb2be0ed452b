"""Running migrations on simulated hosts: progress stored and published, cancel, post-copy,
failures, evacuation - and the database always ends where libvirt runs the domain."""

import pytest

import hypervisor as hv
from compute.choices import HostState, InstanceState, PowerState
from compute.models import Instance, Migration, MigrationState
from compute.services import evacuation
from compute.services import migration as service
from compute.tasks import migration as migration_tasks
from portal.models import Operation
from tests.compute.live_helpers import baseline, instant, on_host, published, running  # noqa: F401


def migrate(run_tasks, instance, target, user, **kwargs):
    kwargs.setdefault("options", {"copy_storage": True})
    with run_tasks():
        op = service.start_migration(instance, target_host=target, user=user, **kwargs)
    instance.refresh_from_db()
    return Operation.objects.get(pk=op.pk), Migration.objects.get(operation=op)


def test_a_live_migration_moves_the_instance_and_records_how_it_went(
    run_tasks, running, hosts, baseline, admin_user, instant
):
    op, migration = migrate(run_tasks, running, hosts[1], admin_user)
    assert op.status == "succeeded" and "[simulated]" in op.message
    assert migration.state == MigrationState.SUCCEEDED and migration.percent == 100 and migration.simulated
    assert running.host == hosts[1] and running.state == InstanceState.ACTIVE
    assert on_host(running, hosts[1]) == "running" and on_host(running, hosts[0]) is None
    assert migration.total_ms is not None and migration.downtime_ms is not None and migration.data_transferred > 0
    assert len(migration.samples) > 3 and {"memory_remaining", "dirty_rate_bytes_s", "t"} <= set(migration.samples[0])
    # copy-storage on simulated hosts: the root disk now lives on the target only
    assert hv.volume_info(hosts[1].uri, running.image.pool, running.root_volume)
    with pytest.raises(hv.VolumeNotFound):
        hv.volume_info(hosts[0].uri, running.image.pool, running.root_volume)


def test_progress_goes_to_the_migration_and_instance_groups_and_the_operation(
    run_tasks, running, hosts, baseline, admin_user, instant, published
):
    _op, migration = migrate(run_tasks, running, hosts[1], admin_user)
    progress = [(g, d) for g, e, d in published if e == "migration.progress"]
    groups = {g for g, _ in progress}
    assert groups == {f"compute.migration.{migration.pk}", f"compute.instance.{running.pk}"}
    percents = [d["percent"] for g, d in progress if g == migration.group]
    assert percents == sorted(percents) and percents[-1] >= 90 and len(percents) == len(migration.samples)
    assert all(d["simulated"] and "memory_remaining" in d["sample"] for _, d in progress)
    op_progress = [
        d["progress"] for g, e, d in published if e == "operation" and g == f"operation.{migration.operation_id}"
    ]
    assert 0 < max(p for p in op_progress if p < 100) < 100 and op_progress[-1] == 100
    states = [d["state"] for g, e, d in published if e == "migration" and g == migration.group]
    assert states[0] == "running" and states[-1] == "succeeded"


def at_step(monkeypatch, step, verb, user):
    """Call verb(the migration, user) from inside the running migration, at its n-th step."""
    calls = []

    def sleep(_seconds):
        calls.append(1)
        if len(calls) == step:
            verb(Migration.objects.get(), user)

    monkeypatch.setattr(migration_tasks, "_sleep", sleep)


def test_cancel_keeps_the_instance_on_its_source(run_tasks, running, hosts, baseline, admin_user, monkeypatch):
    at_step(monkeypatch, 3, service.cancel_migration, admin_user)
    op, migration = migrate(run_tasks, running, hosts[1], admin_user)
    assert op.status == "cancelled" and "keeps running on host-a" in op.message
    assert migration.state == MigrationState.CANCELLED and 0 < migration.percent < 100
    assert running.host == hosts[0] and running.state == InstanceState.ACTIVE
    assert on_host(running, hosts[0]) == "running" and on_host(running, hosts[1]) is None
    # the copy made for copy-storage is removed again
    with pytest.raises(hv.VolumeNotFound):
        hv.volume_info(hosts[1].uri, running.image.pool, running.root_volume)


def test_a_queued_migration_is_cancelled_at_once(running, hosts, baseline, admin_user, instant):
    op = service.start_migration(running, target_host=hosts[1], user=admin_user, options={"copy_storage": True})
    migration = service.cancel_migration(Migration.objects.get(operation=op), admin_user)
    assert migration.state == MigrationState.CANCELLED
    op.refresh_from_db()
    assert op.status == "cancelled"


def test_switch_to_postcopy_during_the_migration(run_tasks, running, hosts, baseline, admin_user, monkeypatch):
    at_step(monkeypatch, 2, service.switch_to_postcopy, admin_user)
    op, migration = migrate(run_tasks, running, hosts[1], admin_user, options={"copy_storage": True, "postcopy": True})
    assert op.status == "succeeded" and "post-copy" in op.message
    assert migration.postcopy_requested and migration.postcopy_used and running.host == hosts[1]


def test_post_copy_must_be_allowed_when_the_migration_starts(running, hosts, baseline, admin_user):
    migration = Migration.objects.create(instance=running, source=hosts[0], target=hosts[1], state="running")
    with pytest.raises(service.ActionError, match="Post-copy was not allowed"):
        service.switch_to_postcopy(migration, admin_user)


def test_a_failure_before_the_switch_leaves_the_instance_on_the_source(
    run_tasks, running, hosts, baseline, admin_user, monkeypatch
):
    def target_dies(*args, **kwargs):
        raise hv.HostUnreachable("connection to host-b lost")

    monkeypatch.setattr(hv, "migrate_domain", target_dies)
    op, migration = migrate(run_tasks, running, hosts[1], admin_user)
    assert op.status == "failed" and "host-b lost" in op.error and "web-1 is on host-a" in op.error
    assert migration.state == MigrationState.FAILED and running.host == hosts[0]
    assert running.state == InstanceState.ACTIVE and on_host(running, hosts[0]) == "running"


def test_a_failure_after_libvirt_switched_records_the_target(
    run_tasks, running, hosts, baseline, admin_user, instant, monkeypatch
):
    real = hv.migrate_domain

    def moved_then_failed(*args, **kwargs):
        real(*args, **kwargs)
        raise hv.OperationFailed("connection reset while finishing the job")

    monkeypatch.setattr(hv, "migrate_domain", moved_then_failed)
    op, migration = migrate(run_tasks, running, hosts[1], admin_user)
    assert op.status == "failed" and migration.state == MigrationState.FAILED
    assert on_host(running, hosts[1]) == "running" and on_host(running, hosts[0]) is None
    assert running.host == hosts[1] and running.state == InstanceState.ACTIVE


def test_a_domain_gone_from_both_hosts_is_an_error(run_tasks, running, hosts, baseline, admin_user, monkeypatch):
    def lost(src, dst, uuid, *args, **kwargs):
        hv.domain_destroy(src, uuid)
        hv.domain_undefine(src, uuid)
        raise hv.OperationFailed("QEMU crashed")

    monkeypatch.setattr(hv, "migrate_domain", lost)
    _op, migration = migrate(run_tasks, running, hosts[1], admin_user)
    assert migration.state == MigrationState.FAILED
    assert running.state == InstanceState.ERROR and running.power_state == PowerState.VANISHED


def test_a_cold_migration_moves_a_stopped_instance(api, run_tasks, running, hosts, baseline, admin_user, instant):
    with run_tasks():
        api["alice"].post(f"/api/v1/instances/{running.pk}/stop/", {"force": True}, format="json")
    running.refresh_from_db()
    op, migration = migrate(run_tasks, running, hosts[1], admin_user, live=False)
    assert op.status == "succeeded" and not migration.live and migration.downtime_ms is None
    assert running.host == hosts[1] and on_host(running, hosts[1]) == "shutoff"


def test_evacuation_moves_every_instance_a_few_at_a_time(launch, run_tasks, hosts, baseline, admin_user, instant):
    instances = [launch(name=f"vm-{n}")[1] for n in range(3)]
    assert {i.host_id for i in instances} == {hosts[0].pk}
    with run_tasks():
        started = evacuation.evacuate_host(hosts[0], user=admin_user, batch=2).started
    assert len(started) == 2
    hosts[0].refresh_from_db()
    assert hosts[0].state == HostState.MAINTENANCE
    assert set(Migration.objects.values_list("state", flat=True)) == {MigrationState.SUCCEEDED}
    assert set(Instance.objects.values_list("host", flat=True)) == {hosts[1].pk}
    assert all(on_host(i, hosts[1]) == "running" for i in instances)


def test_an_evacuation_waits_its_turn_and_can_be_cancelled(launch, hosts, baseline, admin_user, instant):
    for n in range(3):
        launch(name=f"vm-{n}")
    started = evacuation.evacuate_host(hosts[0], user=admin_user, batch=1).started  # tasks not run: one stays queued
    assert len(started) == 1
    waiting = Migration.objects.filter(state=MigrationState.WAITING)
    assert waiting.count() == 2
    service.cancel_migration(waiting.first(), admin_user)
    assert Migration.objects.filter(state=MigrationState.CANCELLED).count() == 1
