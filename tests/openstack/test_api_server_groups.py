"""Nova's os-server-groups in-process: create / list / show / delete with the permission matrix
(alice member, bob reader, charlie outsider), and the `group` scheduler hint of a server create
honoured by Nubes' placement on two simulated hosts: anti-affinity spreads and refuses a third
server (Nubes refuses before making anything: a 400 naming the rule), affinity keeps servers
together, the soft variants (2.15+) prefer but never refuse."""

from compute.models import Instance
from scheduler.models import ServerGroup

NOVA = "/openstack/compute/v2.1"
GROUPS = f"{NOVA}/os-server-groups"
SOFT = {"OpenStack-API-Version": "compute 2.15"}


def make_group(cloud, policy, name=None, **headers):
    answer = cloud.call("POST", GROUPS, {"server_group": {"name": name or policy, "policies": [policy]}}, **headers)
    assert answer.status_code == 200, answer.content
    return answer.data["server_group"]


def boot(cloud, run_tasks, flavor, image, name, group_id=None, expect=202, **hints):
    body = {"server": {"name": name, "imageRef": str(image.pk), "flavorRef": str(flavor.pk), "networks": "none"}}
    if group_id is not None:
        hints["group"] = group_id
    if hints:
        body["os:scheduler_hints"] = hints
    with run_tasks():
        answer = cloud.call("POST", f"{NOVA}/servers", body)
    assert answer.status_code == expect, answer.content
    return answer


def host_of(answer):
    return Instance.objects.get(uuid=answer.data["server"]["id"]).host.name


def test_groups_are_the_projects_with_the_permission_matrix(clouds):
    alice, bob, charlie = clouds["alice"], clouds["bob"], clouds["charlie"]
    refused = bob.call("POST", GROUPS, {"server_group": {"name": "web", "policies": ["anti-affinity"]}})
    assert refused.status_code == 403 and "forbidden" in refused.data
    group = make_group(alice, "anti-affinity", "web", **{"OpenStack-API-Version": "compute 2.13"})
    assert (group["name"], group["policies"], group["members"], group["metadata"]) == (
        "web",
        ["anti-affinity"],
        [],
        {},
    )
    assert group["project_id"] == str(ServerGroup.objects.get().project_id)
    assert "project_id" not in alice.call("GET", f"{GROUPS}/{group['id']}").data["server_group"]  # before 2.13
    assert [g["id"] for g in bob.call("GET", GROUPS).data["server_groups"]] == [group["id"]]
    assert bob.call("GET", f"{GROUPS}/{group['id']}").status_code == 200
    assert charlie.call("GET", GROUPS).data["server_groups"] == []
    hidden = charlie.call("GET", f"{GROUPS}/{group['id']}")
    assert hidden.status_code == 404 and hidden.data["itemNotFound"]["code"] == 404
    assert charlie.call("DELETE", f"{GROUPS}/{group['id']}").status_code == 404
    assert bob.call("DELETE", f"{GROUPS}/{group['id']}").status_code == 403
    twice = alice.call("POST", GROUPS, {"server_group": {"name": "web", "policies": ["affinity"]}})
    assert twice.status_code == 409 and "exists" in twice.data["conflictingRequest"]["message"]
    assert alice.call("DELETE", f"{GROUPS}/{group['id']}").status_code == 204
    assert alice.call("GET", f"{GROUPS}/{group['id']}").status_code == 404
    assert not ServerGroup.objects.exists()


def test_policies_by_microversion_and_bad_bodies(clouds):
    alice = clouds["alice"]
    for body, words in (
        ({"name": "g", "policies": ["soft-affinity"]}, "Invalid policy"),  # soft ones from 2.15
        ({"name": "g", "policies": ["spread-out"]}, "Invalid policy"),
        ({"name": "g", "policies": ["affinity", "anti-affinity"]}, "exactly one"),
        ({"policies": ["affinity"]}, "needs a name"),
    ):
        answer = alice.call("POST", GROUPS, {"server_group": body})
        assert answer.status_code == 400 and words in answer.data["badRequest"]["message"], answer.content
    assert make_group(alice, "soft-anti-affinity", **SOFT)["policies"] == ["soft-anti-affinity"]
    assert make_group(alice, "soft-affinity", **SOFT)["policies"] == ["soft-affinity"]
    listed = alice.call("GET", f"{GROUPS}?limit=1&offset=1").data["server_groups"]
    assert [g["name"] for g in listed] == ["soft-affinity"]
    assert alice.call("GET", f"{GROUPS}?all_projects=True").status_code == 501


def test_anti_affinity_spreads_then_refuses_and_a_deleted_member_frees_its_host(
    clouds, hosts, flavor, image, run_tasks
):
    alice = clouds["alice"]
    group = make_group(alice, "anti-affinity")
    first = boot(alice, run_tasks, flavor, image, "a1", group["id"])
    second = boot(alice, run_tasks, flavor, image, "a2", group["id"])
    assert {host_of(first), host_of(second)} == {"host-a", "host-b"}
    refused = boot(alice, run_tasks, flavor, image, "a3", group["id"], expect=400)
    message = refused.data["badRequest"]["message"]
    assert "No host can take" in message and f"server-group:{group['id']}" in message
    assert not Instance.objects.filter(name="a3").exists()  # a refusal makes nothing
    members = alice.call("GET", f"{GROUPS}/{group['id']}").data["server_group"]["members"]
    assert sorted(members) == sorted([first.data["server"]["id"], second.data["server"]["id"]])
    with run_tasks():
        assert alice.call("DELETE", f"{NOVA}/servers/{first.data['server']['id']}").status_code == 204
    assert alice.call("GET", f"{GROUPS}/{group['id']}").data["server_group"]["members"] == [second.data["server"]["id"]]
    third = boot(alice, run_tasks, flavor, image, "a3", group["id"])
    assert host_of(third) == host_of(first)


def member_on(group, host, flavor, image, name):
    """A member placed on ``host`` by hand: the other host is where placement would go unhinted."""
    row = ServerGroup.objects.get(pk=group["id"])
    instance = Instance.objects.create(
        project=row.project, name=name, flavor=flavor, image=image, host=host, vcpus=1, ram_mb=flavor.ram_mb,
        disk_gb=flavor.disk_gb, state="active", power_state="running",
    )  # fmt: skip
    row.members.add(instance)


def test_affinity_keeps_servers_together(clouds, hosts, flavor, image, run_tasks):
    alice = clouds["alice"]
    unhinted = host_of(boot(alice, run_tasks, flavor, image, "free"))
    other = next(h for h in hosts if h.name != unhinted)
    group = make_group(alice, "affinity")
    member_on(group, other, flavor, image, "t0")
    placed = {host_of(boot(alice, run_tasks, flavor, image, f"t{n}", group["id"])) for n in range(1, 3)}
    assert placed == {other.name}


def test_soft_policies_prefer_but_never_refuse(clouds, hosts, flavor, image, run_tasks):
    alice = clouds["alice"]
    apart = make_group(alice, "soft-anti-affinity", **SOFT)
    placed = [host_of(boot(alice, run_tasks, flavor, image, f"s{n}", apart["id"])) for n in range(3)]
    assert set(placed[:2]) == {"host-a", "host-b"} and placed[2] in ("host-a", "host-b")
    unhinted = host_of(boot(alice, run_tasks, flavor, image, "free"))
    other = next(h for h in hosts if h.name != unhinted)
    together = make_group(alice, "soft-affinity", **SOFT)
    member_on(together, other, flavor, image, "g0")
    assert {host_of(boot(alice, run_tasks, flavor, image, f"g{n}", together["id"])) for n in (1, 2)} == {other.name}


def test_hints_name_a_group_of_the_token_project_only(clouds, hosts, flavor, image, run_tasks):
    alice, bob, charlie = clouds["alice"], clouds["bob"], clouds["charlie"]
    theirs = make_group(charlie, "anti-affinity")
    stranger = boot(alice, run_tasks, flavor, image, "x", theirs["id"], expect=400)
    assert "could not be found" in stranger.data["badRequest"]["message"]
    assert boot(alice, run_tasks, flavor, image, "x", "nope", expect=400)
    other = boot(alice, run_tasks, flavor, image, "x", expect=501, same_host=["abc"])
    assert "same_host" in other.data["notImplemented"]["message"]
    mine = make_group(alice, "anti-affinity")
    assert boot(bob, run_tasks, flavor, image, "x", mine["id"], expect=403)
    assert not Instance.objects.exists()
    one_item = boot(alice, run_tasks, flavor, image, "ok", [mine["id"]])  # novaclient's list form
    assert alice.call("GET", f"{GROUPS}/{mine['id']}").data["server_group"]["members"] == [
        one_item.data["server"]["id"]
    ]
