"""Copy-storage into a pool of the target: the target_pool option, the pre-check that a real
target has that pool, and the copy plan handed to the gateway (the root disk's file on the
target, which the destination definition points at)."""

import pytest

import hypervisor as hv
from compute.models import Migration
from compute.services import migration as service
from compute.tasks import migration as migration_tasks
from portal.errors import ActionError
from tests.compute.live_helpers import baseline, instant, running  # noqa: F401
from tests.conftest import client_for


def test_target_pool_is_a_short_name():
    assert service.normalise_options({"copy_storage": True, "target_pool": "fast"}, True)["target_pool"] == "fast"
    assert "target_pool" not in service.normalise_options({"target_pool": ""}, True)
    for bad in (7, "x" * 129):
        with pytest.raises(ActionError, match="target_pool is a name") as caught:
            service.normalise_options({"target_pool": bad}, True)
        assert caught.value.field == "target_pool"


def test_the_root_disk_is_copied_into_the_chosen_pool_else_one_of_the_same_name(running):
    assert migration_tasks.root_copy_pool(running, {"target_pool": "fast"}) == "fast"
    assert migration_tasks.root_copy_pool(running, {}) == running.image.pool


def test_a_real_target_without_the_pool_is_refused_with_what_to_choose(running, hosts, monkeypatch):
    target = hosts[1]
    target.simulated = False
    asked = []

    def pool_info(uri, name):
        asked.append((uri, name))
        raise hv.PoolNotFound(f"no pool {name}")

    monkeypatch.setattr(hv, "pool_info", pool_info)
    with pytest.raises(ActionError, match="host-b has no storage pool default .*choose target_pool") as caught:
        service.check_copy_pool(running, target, {})
    assert caught.value.field == "target_pool" and asked == [(target.uri, running.image.pool)]
    service.check_copy_pool(running, hosts[0], {})  # simulated: the task stands a copy up itself


def test_the_api_passes_target_pool_on(running, hosts, baseline, admin_user, instant):
    response = client_for(admin_user).post(
        "/api/v1/migrations/",
        {"instance": running.pk, "target_host": hosts[1].pk, "copy_storage": True, "target_pool": "default"},
        format="json",
    )
    assert response.status_code == 202, response.content
    assert Migration.objects.get(instance=running).options["target_pool"] == "default"


def test_the_gateway_gets_the_copied_root_disks_new_file(running, hosts, baseline, admin_user, instant):
    op = service.start_migration(running, target_host=hosts[1], user=admin_user, options={"copy_storage": True})
    migration = Migration.objects.get(operation=op)
    copied = migration_tasks.RootCopy("r.qcow2", "local", "shared", "/local/r.qcow2", "/shared/r.qcow2")
    options = migration_tasks._gateway_options(migration, copied)
    assert options.copy_storage and options.disk_targets == (("/local/r.qcow2", "/shared/r.qcow2"),)
    assert copied.on_target == ("shared", "r.qcow2", "/shared/r.qcow2")
    assert migration_tasks._gateway_options(migration, migration_tasks.RootCopy("r", "p", "p")).disk_targets == ()
