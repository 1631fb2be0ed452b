"""Services + tasks realise the database in a real OVN NB: switches, DHCP, ports, security
groups, routers with SNAT, floating IPs and load balancers."""

import pytest

from network import services
from network.choices import State
from network.models import IPAllocation, Network, Port, SecurityGroup
from portal.models import Operation

pytestmark = pytest.mark.django_db


def ids(row):
    return dict(row["external_ids"][1])


def acl_matches(nb):
    return sorted(acl["match"] for acl in nb.rows("ACL"))


@pytest.fixture
def net(nb, alice, project_a, run_tasks):
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="web")
        subnet, _ = services.create_subnet(
            alice, network, cidr="10.0.0.0/24", gateway_ip="10.0.0.1", dns_nameservers=["10.0.0.2"]
        )
    return network, subnet


def test_a_network_with_a_subnet_is_a_switch_with_dhcp_options(nb, net):
    network, subnet = net
    [switch] = nb.rows("Logical_Switch", name=network.switch_name)
    assert ids(switch)["nubes:project"] == str(network.project_id)
    assert dict(switch["other_config"][1])["requested-tnl-key"] == str(network.tunnel_key)
    [dhcp] = nb.rows("DHCP_Options")
    assert dhcp["cidr"] == "10.0.0.0/24" and dict(dhcp["options"][1])["router"] == "10.0.0.1"
    network.refresh_from_db()
    assert network.state == State.ACTIVE and network.backend == "ovn"
    assert Operation.objects.filter(kind="subnet.create", status="succeeded").exists()


def test_a_port_gets_an_address_port_security_dhcp_and_the_default_group(nb, net, alice, project_a, run_tasks):
    network, subnet = net
    with run_tasks():
        port, _ = services.create_port(alice, project_a, network)
    address = port.ip_allocations.get().address
    [lsp] = nb.rows("Logical_Switch_Port", name=port.interface_id)
    assert lsp["port_security"] == f"{port.mac_address} {address}"
    assert lsp["dhcpv4_options"][0] == "uuid"
    default = SecurityGroup.objects.get(project=project_a, is_default=True)
    [pg] = nb.rows("Port_Group", name=default.port_group_name)
    assert pg["ports"] == ["uuid", lsp["_uuid"][1]]
    [drop] = nb.rows("Port_Group", name="nubes_drop")
    assert drop["ports"] == ["uuid", lsp["_uuid"][1]]
    assert f"outport == @{default.port_group_name} && ip4 && ip4.src == ${default.port_group_name}_ip4" in acl_matches(
        nb
    )


def test_a_rule_change_is_one_acl_on_the_group(nb, net, alice, project_a, run_tasks):
    network, _ = net
    with run_tasks():
        services.create_port(alice, project_a, network)
        group = SecurityGroup.objects.get(project=project_a, is_default=True)
        rule, _ = services.create_rule(
            alice,
            group,
            direction="ingress",
            protocol="tcp",
            port_range_min=22,
            port_range_max=22,
            remote_cidr="192.168.0.0/16",
        )
    expected = f"outport == @{group.port_group_name} && ip4 && ip4.src == 192.168.0.0/16 && tcp && tcp.dst == 22"
    assert expected in acl_matches(nb)
    with run_tasks():
        services.delete_rule(alice, rule)
    assert expected not in acl_matches(nb)


def test_router_with_gateway_interface_snat_and_a_floating_ip(nb, net, alice, admin_user, project_a, run_tasks):
    network, subnet = net
    with run_tasks():
        public, _ = services.create_network(
            admin_user, project_a, name="public", segment_type="flat", physical_network="physnet1", external=True
        )
        services.create_subnet(admin_user, public, cidr="172.24.4.0/24", gateway_ip="172.24.4.1")
        router, _ = services.create_router(alice, project_a, name="r1", external_network=public)
    with run_tasks():  # one operation at a time per router
        services.add_interface(alice, router, subnet)
        port, _ = services.create_port(alice, project_a, network)
    with run_tasks():
        fip, _ = services.create_floating_ip(alice, project_a, public, port=port)
    [lr] = nb.rows("Logical_Router", name=router.router_name)
    nats = {(n["type"], n["logical_ip"]) for n in nb.rows("NAT")}
    assert ("snat", "10.0.0.0/24") in nats
    assert ("dnat_and_snat", port.ip_allocations.get().address) in nats
    lrps = {p["name"]: p for p in nb.rows("Logical_Router_Port")}
    assert lrps[f"nubes-lrp-{router.interfaces.get().port.uuid}"]["networks"] == "10.0.0.1/24"
    [peer] = [
        p
        for p in nb.rows("Logical_Switch_Port")
        if p["type"] == "router" and dict(p["options"][1])["router-port"].startswith("nubes-lrp-gw")
    ]
    [localnet] = nb.rows("Logical_Switch_Port", type="localnet")
    assert dict(localnet["options"][1]) == {"network_name": "physnet1"}
    with run_tasks():
        services.disassociate(alice, fip)
    assert {n["type"] for n in nb.rows("NAT")} == {"snat"}


def test_a_load_balancer_spreads_a_vip_over_members(nb, net, alice, project_a, run_tasks):
    network, subnet = net
    with run_tasks():
        lb, _ = services.create_load_balancer(
            alice,
            project_a,
            subnet,
            name="web",
            protocol="tcp",
            port=80,
            members=[{"address": "10.0.0.20", "port": 8080}, {"address": "10.0.0.21", "port": 8080}],
        )
    [row] = nb.rows("Load_Balancer", name=lb.lb_name)
    assert dict(row["vips"][1]) == {f"{lb.vip}:80": "10.0.0.20:8080,10.0.0.21:8080"}
    assert nb.rows("Load_Balancer_Health_Check")
    assert nb.rows("Logical_Switch", name=network.switch_name)[0]["load_balancer"] == ["uuid", row["_uuid"][1]]


def test_health_checks_probe_from_an_address_of_their_own_not_the_vip(nb, net, alice, project_a, run_tasks):
    network, subnet = net
    with run_tasks():
        port, _ = services.create_port(alice, project_a, network)
    member = port.ip_allocations.get().address
    with run_tasks():
        lb, _ = services.create_load_balancer(
            alice, project_a, subnet, name="web", protocol="tcp", port=80, members=[{"address": member, "port": 8080}]
        )
    assert lb.monitor_address not in (None, lb.vip, member)
    [row] = nb.rows("Load_Balancer", name=lb.lb_name)
    assert dict(row["ip_port_mappings"][1]) == {member: f"{port.interface_id}:{lb.monitor_address}"}
    monitor, vip = lb.monitor_address, lb.vip

    def held():
        return set(IPAllocation.objects.filter(subnet=subnet).values_list("address", flat=True))

    assert {monitor, vip, member} <= held()
    with run_tasks():
        services.update_load_balancer(alice, lb, health_check=False)
    assert lb.monitor_allocation is None and monitor not in held() and vip in held()
    with run_tasks():
        services.delete_load_balancer(alice, lb)
    assert not held() & {monitor, vip}


def _arp_proxy(nb, router):
    [peer] = [
        p
        for p in nb.rows("Logical_Switch_Port")
        if p["type"] == "router"
        and dict(p["options"][1])["router-port"] == f"nubes-lrp-{router.interfaces.get().port.uuid}"
    ]
    return dict(peer["options"][1]).get("arp_proxy")


def test_the_router_port_on_a_vip_subnet_answers_arp_for_the_vip(nb, net, alice, project_a, run_tasks):
    network, subnet = net
    with run_tasks():
        router, _ = services.create_router(alice, project_a, name="r1")
    with run_tasks():
        services.add_interface(alice, router, subnet)
    assert _arp_proxy(nb, router) is None
    with run_tasks():
        lb, _ = services.create_load_balancer(
            alice,
            project_a,
            subnet,
            name="web",
            protocol="tcp",
            port=80,
            members=[{"address": "10.0.0.20", "port": 8080}],
        )
    assert _arp_proxy(nb, router) == lb.vip
    with run_tasks():
        services.delete_load_balancer(alice, lb)
    assert _arp_proxy(nb, router) is None


def test_deleting_a_network_removes_its_switch_and_gives_quota_back(nb, net, alice, run_tasks):
    network, subnet = net
    with run_tasks():
        services.delete_subnet(alice, subnet)
        services.delete_network(alice, network)
    assert nb.rows("Logical_Switch") == [] and nb.rows("DHCP_Options") == []
    assert not Network.objects.filter(pk=network.pk).exists()
    assert network.project.quotas.get(resource="networks").in_use == 0


def test_deleting_a_port_removes_its_logical_port(nb, net, alice, project_a, run_tasks):
    network, _ = net
    with run_tasks():
        port, _ = services.create_port(alice, project_a, network)
    with run_tasks():
        services.delete_port(alice, port)
    assert nb.rows("Logical_Switch_Port", name=port.interface_id) == []
    assert not Port.objects.filter(pk=port.pk).exists()
