"""Compute v2.1 for cloud admins in-process: os-hypervisors from compute's hosts and
os-migrations from compute's Migration records; tenants (members, readers, other projects) get
Nova's 403, and bad filters a 400 in Nova's shape."""

import re

from compute.choices import HostState
from compute.models import Host, Instance, Migration
from tests.compute.live_helpers import baseline, instant  # noqa: F401
from tests.openstack.conftest import login
from tests.openstack.test_api_actions import act, launch

NOVA = "/openstack/compute/v2.1"


def test_hypervisors_show_hosts_and_what_their_instances_hold(
    clouds, project_a, admin_user, hosts, flavor, image, run_tasks
):
    admin = login(admin_user, project_a)
    server_id = launch(clouds["alice"], run_tasks, flavor, image)
    placed_on = Instance.objects.get().host
    hosts[1].state, hosts[1].state_reason = HostState.MAINTENANCE, "new DIMMs"
    hosts[1].save()

    for who in ("alice", "bob", "charlie"):
        for path in (
            "os-hypervisors",
            "os-hypervisors/detail",
            "os-hypervisors/statistics",
            f"os-hypervisors/{hosts[0].pk}",
        ):
            refused = clouds[who].call("GET", f"{NOVA}/{path}")
            assert refused.status_code == 403 and "Policy doesn't allow" in refused.data["forbidden"]["message"], path

    listed = admin.call("GET", f"{NOVA}/os-hypervisors").data["hypervisors"]
    assert listed == [
        {"id": hosts[0].pk, "hypervisor_hostname": "host-a", "state": "up", "status": "enabled"},
        {"id": hosts[1].pk, "hypervisor_hostname": "host-b", "state": "up", "status": "disabled"},
    ]
    detail = {
        h["hypervisor_hostname"]: h for h in admin.call("GET", f"{NOVA}/os-hypervisors/detail").data["hypervisors"]
    }
    mine = detail[placed_on.name]
    assert (mine["vcpus_used"], mine["memory_mb_used"], mine["running_vms"]) == (1, 2048, 1)
    assert (mine["hypervisor_type"], mine["vcpus"]) == ("QEMU", placed_on.cpus) and mine["vcpus"] > 0
    assert mine["memory_mb"] == placed_on.memory_mb - placed_on.reserved_memory_mb
    assert isinstance(mine["cpu_info"], str)  # a JSON string before 2.28, an object from it
    assert detail["host-b"]["service"]["disabled_reason"] == "new DIMMs"
    shown = admin.call("GET", f"{NOVA}/os-hypervisors/{placed_on.pk}", **{"OpenStack-API-Version": "compute 2.28"})
    assert shown.status_code == 200 and shown.data["hypervisor"]["cpu_info"]["topology"]["sockets"] >= 1
    missing = admin.call("GET", f"{NOVA}/os-hypervisors/99999")
    assert missing.status_code == 404 and "99999" in missing.data["itemNotFound"]["message"]
    assert admin.call("GET", f"{NOVA}/os-hypervisors/not-a-number").status_code == 404
    matching = admin.call("GET", f"{NOVA}/os-hypervisors?hypervisor_hostname_pattern=host-b").data["hypervisors"]
    assert [h["hypervisor_hostname"] for h in matching] == ["host-b"]
    assert admin.call("GET", f"{NOVA}/os-hypervisors?limit=x").status_code == 400

    stats = admin.call("GET", f"{NOVA}/os-hypervisors/statistics").data["hypervisor_statistics"]
    assert (stats["count"], stats["running_vms"], stats["vcpus_used"]) == (2, 1, 1)
    assert stats["vcpus"] == sum(h.cpus for h in Host.objects.all())
    assert server_id  # the server stays alice's: the hosts' view is the admin's only


def test_migrations_list_native_migrations_in_novas_words(
    clouds, project_a, admin_user, hosts, baseline, instant, flavor, image, run_tasks
):
    alice = clouds["alice"]
    admin = login(admin_user, project_a)
    server_id = launch(alice, run_tasks, flavor, image)
    other_id = launch(alice, run_tasks, flavor, image, name="web-2")
    source = Instance.objects.get(uuid=server_id).host
    target = next(h for h in hosts if h != source)
    assert act(admin, run_tasks, server_id, {"os-migrateLive": {"host": target.name}}).status_code == 202
    assert act(alice, run_tasks, other_id, {"os-stop": None}).status_code == 202
    assert act(admin, run_tasks, other_id, {"migrate": None}).status_code == 202

    for who in ("alice", "bob", "charlie"):
        refused = clouds[who].call("GET", f"{NOVA}/os-migrations")
        assert refused.status_code == 403 and "os-migrations:index" in refused.data["forbidden"]["message"]

    listed = admin.call("GET", f"{NOVA}/os-migrations").data["migrations"]
    assert [(m["instance_uuid"], m["migration_type"], m["status"]) for m in listed] == [
        (other_id, "migration", "completed"),
        (server_id, "live-migration", "completed"),
    ]
    live = listed[1]
    assert (live["source_compute"], live["dest_compute"]) == (source.name, target.name)
    assert live["id"] == Migration.objects.get(live=True).pk and live["created_at"] and live["updated_at"]
    assert "links" not in live  # links only for a live migration in progress (2.23)

    def ids(query):
        answer = admin.call("GET", f"{NOVA}/os-migrations?{query}")
        assert answer.status_code == 200, answer.content
        return [m["instance_uuid"] for m in answer.data["migrations"]]

    assert ids(f"instance_uuid={server_id}") == [server_id]
    assert ids("migration_type=live-migration") == [server_id]
    assert ids("migration_type=migration") == [other_id]
    assert ids("migration_type=resize") == []
    assert ids("status=completed") == [other_id, server_id] and ids("status=running") == []
    assert ids(f"host={target.name}&migration_type=live-migration") == [server_id]
    assert ids("limit=1") == [other_id]
    bad = admin.call("GET", f"{NOVA}/os-migrations?migration_type=teleport")
    assert bad.status_code == 400 and "teleport" in bad.data["badRequest"]["message"]
    assert admin.call("GET", f"{NOVA}/os-migrations?marker=nope").status_code == 400


def test_hypervisor_uptime_servers_search_and_aggregates(
    clouds, project_a, admin_user, hosts, flavor, image, run_tasks
):
    admin = login(admin_user, project_a)
    server_id = launch(clouds["alice"], run_tasks, flavor, image)
    placed_on = Instance.objects.get().host
    other = next(h for h in hosts if h != placed_on)
    paths = (
        f"os-hypervisors/{placed_on.pk}/uptime",
        f"os-hypervisors/{placed_on.name}/servers",
        f"os-hypervisors/{placed_on.name}/search",
        "os-aggregates",
        f"os-aggregates/{placed_on.cluster_id}",
    )
    for who in ("alice", "bob", "charlie"):
        for path in paths:
            refused = clouds[who].call("GET", f"{NOVA}/{path}")
            assert refused.status_code == 403 and "Policy doesn't allow" in refused.data["forbidden"]["message"], path

    uptime = admin.call("GET", f"{NOVA}/os-hypervisors/{placed_on.pk}/uptime")
    assert uptime.status_code == 200, uptime.content
    body = uptime.data["hypervisor"]
    assert (body["id"], body["hypervisor_hostname"], body["state"]) == (placed_on.pk, placed_on.name, "up")
    # openstackclient's own pattern for the line (hypervisor show splits it into four fields)
    line = re.match(r"\s*(.+)\sup\s+(.+),\s+(.+)\susers?,\s+load average:\s(.+)", body["uptime"])
    assert line and line.group(2) == "unknown" and line.group(4) == "unknown, unknown, unknown", body["uptime"]
    assert admin.call("GET", f"{NOVA}/os-hypervisors/99999/uptime").status_code == 404
    other.state = HostState.DOWN
    other.save()
    down = admin.call("GET", f"{NOVA}/os-hypervisors/{other.pk}/uptime")
    assert down.status_code == 400 and "unavailable" in down.data["badRequest"]["message"]

    listed = admin.call("GET", f"{NOVA}/os-hypervisors/host-/servers").data["hypervisors"]
    by_name = {h["hypervisor_hostname"]: h for h in listed}
    assert set(by_name) == {"host-a", "host-b"}
    assert by_name[placed_on.name]["servers"] == [{"name": f"nubes-{server_id}", "uuid": server_id}]
    assert "servers" not in by_name[other.name]  # Nova leaves the key out for a host with none
    by_id = admin.call("GET", f"{NOVA}/os-hypervisors/{placed_on.pk}/servers").data["hypervisors"]
    assert [h["servers"][0]["uuid"] for h in by_id] == [server_id]
    missing = admin.call("GET", f"{NOVA}/os-hypervisors/nowhere/servers")
    assert missing.status_code == 404 and "nowhere" in missing.data["itemNotFound"]["message"]
    found = admin.call("GET", f"{NOVA}/os-hypervisors/host-b/search").data["hypervisors"]
    assert [h["hypervisor_hostname"] for h in found] == ["host-b"] and "servers" not in found[0]
    assert admin.call("GET", f"{NOVA}/os-hypervisors/nowhere/search").status_code == 404

    aggregates = admin.call("GET", f"{NOVA}/os-aggregates").data["aggregates"]
    assert [(a["id"], a["name"], a["hosts"]) for a in aggregates] == [
        (placed_on.cluster_id, placed_on.cluster.name, ["host-a", "host-b"])
    ]
    shown = admin.call("GET", f"{NOVA}/os-aggregates/{placed_on.cluster_id}")
    assert shown.status_code == 200 and shown.data["aggregate"]["name"] == placed_on.cluster.name
    assert admin.call("GET", f"{NOVA}/os-aggregates/99999").data["itemNotFound"]["code"] == 404
