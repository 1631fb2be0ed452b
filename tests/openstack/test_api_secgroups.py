"""Compute v2.1 addSecurityGroup / removeSecurityGroup in-process: on the embedded default a
501 that says OVN is needed; with a real OVN Northbound (tests.network's ovsdb-server) the group
goes on and off the server's ports through network's update_port, readers 403, other projects 404."""

from network.models import Port
from tests.network.conftest import nb, nb_server  # noqa: F401
from tests.openstack.test_api_actions import act, launch

NOVA, NEUTRON = "/openstack/compute/v2.1", "/openstack/network/v2.0"


def test_without_ovn_security_group_actions_say_so(clouds, hosts, flavor, image, run_tasks):
    server_id = launch(clouds["alice"], run_tasks, flavor, image)
    for action in ("addSecurityGroup", "removeSecurityGroup"):
        refused = act(clouds["alice"], run_tasks, server_id, {action: {"name": "default"}})
        assert refused.status_code == 501 and "OVN" in refused.data["notImplemented"]["message"], action


def test_add_and_remove_a_security_group_on_the_servers_ports(clouds, nb, hosts, flavor, image, run_tasks):
    alice, bob, charlie = clouds["alice"], clouds["bob"], clouds["charlie"]
    with run_tasks():
        net = alice.call("POST", f"{NEUTRON}/networks", {"network": {"name": "sg-net"}}).data["network"]
        subnet = {"network_id": net["id"], "ip_version": 4, "cidr": "10.66.0.0/24"}
        assert alice.call("POST", f"{NEUTRON}/subnets", {"subnet": subnet}).status_code == 201
        web = alice.call("POST", f"{NEUTRON}/security-groups", {"security_group": {"name": "web"}})
    assert web.status_code == 201, web.content
    body = {"server": {"name": "sg-vm", "imageRef": str(image.pk), "flavorRef": str(flavor.pk)}}
    body["server"]["networks"] = [{"uuid": net["id"]}]
    with run_tasks():
        created = alice.call("POST", f"{NOVA}/servers", body)
    assert created.status_code == 202, created.content
    server_id = created.data["server"]["id"]

    def groups():
        shown = alice.call("GET", f"{NOVA}/servers/{server_id}").data["server"]
        return [g["name"] for g in shown["security_groups"]]

    assert groups() == ["default"]
    add, remove = {"addSecurityGroup": {"name": "web"}}, {"removeSecurityGroup": {"name": "web"}}
    assert act(bob, run_tasks, server_id, add).status_code == 403
    assert act(charlie, run_tasks, server_id, add).status_code == 404
    hidden = act(charlie, run_tasks, server_id, {"addSecurityGroup": {"name": "default"}})
    assert hidden.status_code == 404  # charlie's own default group does not make alice's server his
    unknown = act(alice, run_tasks, server_id, {"addSecurityGroup": {"name": "nope"}})
    assert unknown.status_code == 404 and "nope" in unknown.data["itemNotFound"]["message"]
    assert act(alice, run_tasks, server_id, {"addSecurityGroup": {}}).status_code == 400
    assert act(alice, run_tasks, server_id, {"addSecurityGroup": "web"}).status_code == 400

    assert act(alice, run_tasks, server_id, add).status_code == 202
    assert groups() == ["default", "web"]
    assert {g.name for g in Port.objects.get(instance__uuid=server_id).security_groups.all()} == {"default", "web"}
    twice = act(alice, run_tasks, server_id, add)
    assert twice.status_code == 400 and "already associated" in twice.data["badRequest"]["message"]
    assert act(bob, run_tasks, server_id, remove).status_code == 403
    assert act(charlie, run_tasks, server_id, remove).status_code == 404
    by_id = {"removeSecurityGroup": {"name": web.data["security_group"]["id"]}}
    assert act(alice, run_tasks, server_id, by_id).status_code == 202
    assert groups() == ["default"]
    gone = act(alice, run_tasks, server_id, remove)
    assert gone.status_code == 400 and "not associated" in gone.data["badRequest"]["message"]
