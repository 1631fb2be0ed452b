"""A migration whose worker died (issue #20's case): the reaper, or a cancel once the lease ran
out, asks the source whether libvirt still runs a job (simulated hosts run none outside the
worker), settles the instance where libvirt has it, ends the Migration and frees the instance."""

from datetime import timedelta

from django.utils import timezone

from compute.choices import InstanceState
from compute.models import Migration, MigrationState
from compute.services import migration as service
from portal import leases, operations
from portal.models import Operation
from tests.compute.live_helpers import baseline, on_host, running  # noqa: F401


def _lost_worker_migration(running, target, user):
    op = service.start_migration(running, target_host=target, user=user, options={"copy_storage": True})
    leases.claim(op.pk, worker="worker-1/4242")  # the task began, then its process was killed
    Migration.objects.filter(operation=op).update(state=MigrationState.RUNNING)
    Operation.objects.filter(pk=op.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    return Operation.objects.get(pk=op.pk), Migration.objects.get(operation=op)


def test_the_reaper_ends_a_lost_workers_migration_where_libvirt_has_the_instance(running, hosts, baseline, admin_user):
    op, migration = _lost_worker_migration(running, hosts[1], admin_user)
    assert leases.reap() == [(op.pk, "failed")]
    op.refresh_from_db()
    migration.refresh_from_db()
    running.refresh_from_db()
    assert op.status == "failed" and "Worker lost: worker-1/4242" in op.error
    assert f"{running.name} is on {hosts[0].name}" in op.error
    assert migration.state == MigrationState.FAILED and migration.error == "worker lost"
    assert running.host == hosts[0] and running.state == InstanceState.ACTIVE
    assert on_host(running, hosts[0]) == "running"
    assert operations.active_on(running) is None  # the instance takes actions again


def test_cancel_of_a_lost_workers_migration_ends_it_cancelled(api, running, hosts, baseline, admin_user):
    op, migration = _lost_worker_migration(running, hosts[1], admin_user)
    response = api["admin"].post(f"/api/v1/migrations/{migration.pk}/cancel/")
    assert response.status_code in (200, 202), response.content
    op.refresh_from_db()
    migration.refresh_from_db()
    assert op.status == "cancelled" and "worker-1/4242 was lost" in op.message
    assert migration.state == MigrationState.CANCELLED and migration.error == "worker lost"
    assert operations.active_on(running) is None


def test_a_host_refresh_whose_worker_was_lost_is_resumed_to_the_end(hosts, admin_user):
    from compute.services import instances as compute_services
    from compute.tasks import hosts as compute_tasks

    op = compute_services.refresh_host(admin_user, hosts[0])
    leases.claim(op.pk, worker="worker-1/4242", task_name=compute_tasks.refresh_host.name)
    Operation.objects.filter(pk=op.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert leases.reap() == [(op.pk, "resumed")]  # sent again: eager Celery runs it here
    op.refresh_from_db()
    assert op.status == "succeeded" and op.detail["resumes"] == 1
