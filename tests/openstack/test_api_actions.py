"""Compute server actions of the OpenStack-compatible API in-process: resize with Nova's
VERIFY_RESIZE / confirmResize / revertResize, and a cloud admin's os-migrateLive / migrate
onto Nubes' migration service; each refused to readers and to other projects."""

import pytest

from compute.models import Flavor, Instance, Migration, MigrationState
from openstack_api.models import PendingResize
from portal import quotas
from tests.compute.live_helpers import baseline, instant  # noqa: F401
from tests.openstack.conftest import login

NOVA = "/openstack/compute/v2.1"


@pytest.fixture
def bigger(db):
    return Flavor.objects.create(name="m1.medium", vcpus=2, ram_mb=4096, disk_gb=20)


def launch(cloud, run_tasks, flavor, image, name="web-1"):
    body = {"server": {"name": name, "imageRef": str(image.pk), "flavorRef": str(flavor.pk)}}
    with run_tasks():
        created = cloud.call("POST", f"{NOVA}/servers", body)
    assert created.status_code == 202, created.content
    return created.data["server"]["id"]


def act(cloud, run_tasks, server_id, body):
    with run_tasks():
        return cloud.call("POST", f"{NOVA}/servers/{server_id}/action", body)


def show(cloud, server_id):
    return cloud.call("GET", f"{NOVA}/servers/{server_id}").data["server"]


def test_resize_waits_for_confirm_and_revert_goes_back(clouds, hosts, flavor, bigger, image, run_tasks):
    alice, bob, charlie = clouds["alice"], clouds["bob"], clouds["charlie"]
    server_id = launch(alice, run_tasks, flavor, image)
    groups = alice.call("GET", f"{NOVA}/servers/{server_id}/os-security-groups")
    assert groups.status_code == 200 and isinstance(groups.data["security_groups"], list)
    assert charlie.call("GET", f"{NOVA}/servers/{server_id}/os-security-groups").status_code == 404
    resize = {"resize": {"flavorRef": str(bigger.pk)}}
    running = act(alice, run_tasks, server_id, resize)
    assert running.status_code == 409 and "stop the instance first" in running.data["conflictingRequest"]["message"]
    assert act(alice, run_tasks, server_id, {"os-stop": None}).status_code == 202
    assert act(charlie, run_tasks, server_id, resize).status_code == 404
    assert act(bob, run_tasks, server_id, resize).status_code == 403
    unknown = act(alice, run_tasks, server_id, {"resize": {"flavorRef": "99999"}})
    assert unknown.status_code == 400 and "Flavor 99999" in unknown.data["badRequest"]["message"]
    early = act(alice, run_tasks, server_id, {"confirmResize": None})
    assert early.status_code == 409 and "VERIFY_RESIZE" in early.data["conflictingRequest"]["message"]

    assert act(alice, run_tasks, server_id, resize).status_code == 202
    shown = show(alice, server_id)
    assert (shown["status"], shown["OS-EXT-STS:vm_state"], shown["flavor"]["id"]) == (
        "VERIFY_RESIZE",
        "resized",
        str(bigger.pk),
    )
    assert quotas.usage(Instance.objects.get().project)["vcpus"]["in_use"] == 2
    again = act(alice, run_tasks, server_id, resize)
    assert again.status_code == 409 and "confirmResize or revertResize" in again.data["conflictingRequest"]["message"]
    assert act(charlie, run_tasks, server_id, {"revertResize": None}).status_code == 404
    assert act(bob, run_tasks, server_id, {"confirmResize": None}).status_code == 403

    assert act(alice, run_tasks, server_id, {"revertResize": None}).status_code == 202
    reverted = show(alice, server_id)
    assert (reverted["status"], reverted["flavor"]["id"]) == ("SHUTOFF", str(flavor.pk))
    assert quotas.usage(Instance.objects.get().project)["vcpus"]["in_use"] == 1

    assert act(alice, run_tasks, server_id, resize).status_code == 202
    assert show(alice, server_id)["status"] == "VERIFY_RESIZE"
    assert act(alice, run_tasks, server_id, {"confirmResize": None}).status_code == 204
    confirmed = show(alice, server_id)
    assert (confirmed["status"], confirmed["flavor"]["id"]) == ("SHUTOFF", str(bigger.pk))
    assert not PendingResize.objects.exists()


def test_live_migration_is_a_cloud_admins(
    clouds, project_a, admin_user, hosts, baseline, instant, flavor, image, run_tasks
):
    alice, charlie = clouds["alice"], clouds["charlie"]
    admin = login(admin_user, project_a)
    server_id = launch(alice, run_tasks, flavor, image)
    source = Instance.objects.get().host
    target = next(h for h in hosts if h != source)
    body = {"os-migrateLive": {"host": target.name, "block_migration": "auto"}}
    refused = act(alice, run_tasks, server_id, body)
    assert refused.status_code == 403 and "Only cloud admins" in refused.data["forbidden"]["message"]
    assert act(charlie, run_tasks, server_id, body).status_code == 404
    nowhere = act(admin, run_tasks, server_id, {"os-migrateLive": {"host": "no-such-host"}})
    assert nowhere.status_code == 400 and "no-such-host" in nowhere.data["badRequest"]["message"]
    assert act(admin, run_tasks, server_id, {"os-migrateLive": {"block_migration": "sometimes"}}).status_code == 400

    moved = act(admin, run_tasks, server_id, body)
    assert moved.status_code == 202, moved.content
    migration = Migration.objects.get()
    assert (migration.state, migration.live, migration.target) == (MigrationState.SUCCEEDED, True, target)
    assert Instance.objects.get().host == target and show(alice, server_id)["status"] == "ACTIVE"
    assert show(admin, server_id)["OS-EXT-SRV-ATTR:host"] == target.name
    assert "OS-EXT-SRV-ATTR:host" not in show(alice, server_id)  # tenants never see hosts

    # without a host the scheduler picks one (here the only other), copying the disk as needed
    anywhere = {"os-migrateLive": {"host": None, "block_migration": "auto"}}
    assert act(admin, run_tasks, server_id, anywhere).status_code == 202
    assert Instance.objects.get().host == source
    assert act(alice, run_tasks, server_id, {"os-stop": None}).status_code == 202
    assert act(charlie, run_tasks, server_id, {"migrate": None}).status_code == 404
    assert act(alice, run_tasks, server_id, {"migrate": None}).status_code == 403
    assert act(admin, run_tasks, server_id, {"migrate": None}).status_code == 202
    assert Instance.objects.get().host == target and Migration.objects.filter(live=False).count() == 1
