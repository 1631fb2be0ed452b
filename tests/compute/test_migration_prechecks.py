"""Migration pre-checks: each refusal says why and nothing moves (no Migration, no Operation,
the domain still runs on its source)."""

import pytest

from compute.choices import HostState
from compute.models import Migration
from compute.services import migration as service
from portal import operations
from portal.errors import ActionError, Conflict, NotPermitted
from portal.models import Operation
from tests.compute.live_helpers import baseline, instant, on_host, running  # noqa: F401


def refused(instance, target, user, match, error=ActionError, **kwargs):
    before = Operation.objects.count()
    with pytest.raises(error, match=match):
        service.start_migration(instance, target_host=target, user=user, **kwargs)
    assert Operation.objects.count() == before and not Migration.objects.exists()
    assert on_host(instance, instance.host) == "running"


@pytest.mark.parametrize("state", [HostState.MAINTENANCE, HostState.STANDBY, HostState.DOWN])
def test_it_refuses_a_target_that_takes_no_instances(running, hosts, baseline, admin_user, state):
    hosts[1].state, hosts[1].state_reason = state, "patching"
    hosts[1].save()
    refused(running, hosts[1], admin_user, f"host-b is {state} \\(patching\\)", options={"copy_storage": True})


def test_it_refuses_a_target_without_room(running, hosts, baseline, admin_user):
    hosts[1].memory_mb = 1024
    hosts[1].save()
    refused(running, hosts[1], admin_user, "no room: memory", options={"copy_storage": True})


def test_it_refuses_a_target_whose_cpu_lacks_the_guests_features(running, hosts, admin_user):
    # host-a is a Cascadelake, host-b a Skylake: a host-model guest of A cannot run on B.
    refused(running, hosts[1], admin_user, "cannot run the CPU of host-a", options={"copy_storage": True})


def test_the_cluster_baseline_makes_the_move_possible(running, hosts, baseline, admin_user, instant):
    op = service.start_migration(running, target_host=hosts[1], user=admin_user, options={"copy_storage": True})
    assert op.kind == "instance.migrate" and op.cancellable


def test_it_needs_copy_storage_when_the_target_cannot_reach_the_disk(running, hosts, baseline, admin_user):
    refused(running, hosts[1], admin_user, "not reachable from host-b: choose copy_storage")


def test_it_refuses_while_another_action_runs(running, hosts, baseline, admin_user):
    busy = operations.begin("instance.stop", running, user=admin_user)
    with pytest.raises(operations.TargetBusy) as caught:
        service.start_migration(running, target_host=hosts[1], user=admin_user, options={"copy_storage": True})
    assert caught.value.running == busy and not Migration.objects.exists()


def test_a_live_migration_needs_a_running_instance(running, hosts, baseline, admin_user):
    running.state = "shutoff"
    running.save()
    refused(
        running,
        hosts[1],
        admin_user,
        "Stop it|needs the instance active",
        error=Conflict,
        options={"copy_storage": True},
    )


def test_a_cold_migration_needs_a_stopped_instance(running, hosts, baseline, admin_user):
    refused(
        running,
        hosts[1],
        admin_user,
        "Stop it for a cold migration",
        error=Conflict,
        live=False,
        options={"copy_storage": True},
    )


def test_only_cloud_admins_migrate(running, hosts, baseline, alice):
    refused(running, hosts[1], alice, "Only cloud admins", error=NotPermitted, options={"copy_storage": True})


def test_it_refuses_the_host_the_instance_is_on(running, hosts, admin_user):
    refused(running, hosts[0], admin_user, "already on host-a")


def test_the_scheduler_picks_a_target_and_copies_storage_itself(running, hosts, baseline, admin_user, instant):
    op = service.start_migration(running, user=admin_user)
    migration = Migration.objects.get(operation=op)
    assert migration.target == hosts[1] and migration.options["copy_storage"] is True


def test_without_any_fitting_host_the_error_lists_each_hosts_reason(running, hosts, admin_user):
    refused(running, None, admin_user, "No host can take web-1: host-b: .*cannot run the CPU of host-a")
