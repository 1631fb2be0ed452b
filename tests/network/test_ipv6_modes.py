"""IPv6 address modes and router advertisements, as Neutron ML2/OVN has them: Neutron's rules
for ipv6_ra_mode / ipv6_address_mode, EUI-64 addresses for SLAAC, the router port's
ipv6_ra_configs, and DHCPv6 only where the mode calls for it — checked in a real NB."""

import ipaddress

import pytest

from network import ipam, services
from network.models import Subnet
from tests.network.conftest import signed_in

pytestmark = pytest.mark.django_db

NETS, SUBNETS, PORTS, ROUTERS = "/api/v1/networks/", "/api/v1/subnets/", "/api/v1/ports/", "/api/v1/routers/"
V6 = "fd00:6::/64"
V6_GATEWAY = "fd00:6::1"


def options(row, column="options"):
    return dict(row[column][1])


@pytest.fixture
def alice_network(api, nb, run_tasks):
    with run_tasks():
        response = api["alice"].post(NETS, {"name": "v6"}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def make_subnet(api, run_tasks, network, **body):
    with run_tasks():
        response = api["alice"].post(
            SUBNETS, {"network": network["id"], "cidr": V6, "gateway_ip": V6_GATEWAY, **body}, format="json"
        )
    assert response.status_code == 201, response.json()
    return response.json()


def routed(api, run_tasks, subnet):
    """A router with an interface on `subnet`; its Logical_Router_Port row."""
    with run_tasks():
        router = api["alice"].post(ROUTERS, {"name": "r6"}, format="json").json()
    with run_tasks():
        response = api["alice"].post(f"{ROUTERS}{router['id']}/add-interface/", {"subnet": subnet["id"]}, format="json")
    assert response.status_code == 202, response.json()
    return router


def make_port(api, run_tasks, network):
    with run_tasks():
        response = api["alice"].post(PORTS, {"network": network["id"]}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"cidr": "10.6.0.0/24", "ipv6_ra_mode": "slaac"}, "ipv6_ra_mode"),
        ({"cidr": "10.6.0.0/24", "ipv6_address_mode": "dhcpv6-stateful"}, "ipv6_address_mode"),
        ({"ipv6_ra_mode": "slaac", "ipv6_address_mode": "dhcpv6-stateful"}, "ipv6_address_mode"),
        ({"ipv6_ra_mode": "dhcpv6-stateless", "ipv6_address_mode": "slaac"}, "ipv6_address_mode"),
        ({"cidr": "fd00:6::/80", "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}, "ipv6_address_mode"),
        ({"cidr": "fd00:6::/56", "ipv6_ra_mode": "slaac"}, "ipv6_ra_mode"),
        ({"cidr": "fd00:6::/96", "ipv6_address_mode": "dhcpv6-stateless"}, "ipv6_address_mode"),
        ({"ipv6_ra_mode": "slaac", "enable_dhcp": False}, "enable_dhcp"),
        ({"ipv6_ra_mode": "radvd"}, "ipv6_ra_mode"),
    ],
)
def test_bad_mode_combinations_are_field_errors_and_nothing_reaches_ovn(api, alice_network, nb, body, field):
    response = api["alice"].post(SUBNETS, {"network": alice_network["id"], "cidr": V6, **body}, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert not Subnet.objects.exists() and not nb.rows("DHCP_Options")


def test_dhcpv6_stateful_may_take_a_prefix_other_than_a_64(api, alice_network, nb, run_tasks):
    subnet = make_subnet(
        api,
        run_tasks,
        alice_network,
        cidr="fd00:6::/80",
        gateway_ip=None,
        ipv6_ra_mode="dhcpv6-stateful",
        ipv6_address_mode="dhcpv6-stateful",
    )
    assert subnet["ipv6_ra_mode"] == subnet["ipv6_address_mode"] == "dhcpv6-stateful"


def test_the_modes_are_set_once(api, alice_network, nb, run_tasks):
    subnet = make_subnet(api, run_tasks, alice_network, ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    response = api["alice"].patch(f"{SUBNETS}{subnet['id']}/", {"ipv6_ra_mode": "dhcpv6-stateful"}, format="json")
    assert response.status_code == 400 and "ipv6_ra_mode" in response.json()
    assert Subnet.objects.get().ipv6_ra_mode == "slaac"


def test_dhcp_cannot_be_switched_off_under_a_mode(api, alice_network, nb, run_tasks):
    subnet = make_subnet(api, run_tasks, alice_network, ipv6_ra_mode="slaac")
    response = api["alice"].patch(f"{SUBNETS}{subnet['id']}/", {"enable_dhcp": False}, format="json")
    assert response.status_code == 400 and "enable_dhcp" in response.json()


def test_slaac_router_port_advertises_and_ports_get_their_eui64_address_without_dhcpv6(
    api, alice_network, nb, run_tasks
):
    subnet = make_subnet(api, run_tasks, alice_network, ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    routed(api, run_tasks, subnet)
    [lrp] = nb.rows("Logical_Router_Port")
    assert lrp["networks"] == f"{V6_GATEWAY}/64"
    assert options(lrp, "ipv6_ra_configs") == {
        "address_mode": "slaac",
        "send_periodic": "true",
        "mtu": "1442",
        "max_interval": "100",
        "min_interval": "30",
    }
    port = make_port(api, run_tasks, alice_network)
    address = port["fixed_ips"][0]["ip_address"]
    assert address == str(ipam.eui64(ipaddress.ip_network(V6), port["mac_address"]))
    [lsp] = nb.rows("Logical_Switch_Port", name=port["interface_id"])
    assert lsp["addresses"] == f"{port['mac_address']} {address}"
    assert lsp["dhcpv6_options"] == ["set", []]
    assert nb.rows("DHCP_Options") == []  # DHCPv6 has nothing to say under SLAAC


def test_dhcpv6_stateless_advertises_and_dhcpv6_answers_only_other_configuration(api, alice_network, nb, run_tasks):
    subnet = make_subnet(
        api,
        run_tasks,
        alice_network,
        ipv6_ra_mode="dhcpv6-stateless",
        ipv6_address_mode="dhcpv6-stateless",
        dns_nameservers=["fd00:6::53"],
    )
    routed(api, run_tasks, subnet)
    assert options(nb.rows("Logical_Router_Port")[0], "ipv6_ra_configs")["address_mode"] == "dhcpv6_stateless"
    [dhcp] = nb.rows("DHCP_Options")
    assert options(dhcp)["dhcpv6_stateless"] == "true" and options(dhcp)["dns_server"] == "{fd00:6::53}"
    port = make_port(api, run_tasks, alice_network)
    assert port["fixed_ips"][0]["ip_address"] == str(ipam.eui64(ipaddress.ip_network(V6), port["mac_address"]))
    [lsp] = nb.rows("Logical_Switch_Port", name=port["interface_id"])
    assert lsp["dhcpv6_options"] == ["uuid", dhcp["_uuid"][1]]


def test_dhcpv6_stateful_advertises_and_leases_pool_addresses(api, alice_network, nb, run_tasks):
    subnet = make_subnet(
        api, run_tasks, alice_network, ipv6_ra_mode="dhcpv6-stateful", ipv6_address_mode="dhcpv6-stateful"
    )
    routed(api, run_tasks, subnet)
    assert options(nb.rows("Logical_Router_Port")[0], "ipv6_ra_configs")["address_mode"] == "dhcpv6_stateful"
    [dhcp] = nb.rows("DHCP_Options")
    assert "dhcpv6_stateless" not in options(dhcp)
    port = make_port(api, run_tasks, alice_network)
    assert port["fixed_ips"][0]["ip_address"] == "fd00:6::2"
    assert nb.rows("Logical_Switch_Port", name=port["interface_id"])[0]["dhcpv6_options"][0] == "uuid"


def test_a_subnet_without_an_ra_mode_gets_no_advertisements(api, alice_network, nb, run_tasks):
    subnet = make_subnet(api, run_tasks, alice_network)
    routed(api, run_tasks, subnet)
    assert nb.rows("Logical_Router_Port")[0]["ipv6_ra_configs"] == ["map", []]


def test_the_mtu_advertised_is_the_networks(api, nb, run_tasks):
    with run_tasks():
        network = api["alice"].post(NETS, {"name": "small", "mtu": 1400}, format="json").json()
    subnet = make_subnet(api, run_tasks, network, ipv6_ra_mode="slaac")
    routed(api, run_tasks, subnet)
    assert options(nb.rows("Logical_Router_Port")[0], "ipv6_ra_configs")["mtu"] == "1400"


def test_a_chosen_address_on_a_slaac_subnet_is_refused(api, alice_network, nb, run_tasks):
    subnet = make_subnet(api, run_tasks, alice_network, ipv6_ra_mode="slaac")
    response = api["alice"].post(
        PORTS,
        {"network": alice_network["id"], "fixed_ips": [{"subnet": subnet["id"], "ip_address": "fd00:6::99"}]},
        format="json",
    )
    assert response.status_code == 400 and "fixed_ips" in response.json(), response.json()


def test_a_subnet_waiting_for_an_outside_router_cannot_join_ours(api, alice_network, nb, run_tasks):
    subnet = make_subnet(api, run_tasks, alice_network, ipv6_address_mode="slaac")
    with run_tasks():
        router = api["alice"].post(ROUTERS, {"name": "r6"}, format="json").json()
    response = api["alice"].post(f"{ROUTERS}{router['id']}/add-interface/", {"subnet": subnet["id"]}, format="json")
    assert response.status_code == 400, response.json()
    assert nb.rows("Logical_Router_Port") == []


def test_eui64_follows_rfc_4291():
    assert ipam.eui64(ipaddress.ip_network("2001:db8::/64"), "52:54:00:12:34:56") == ipaddress.ip_address(
        "2001:db8::5054:ff:fe12:3456"
    )


def test_the_subnet_form_shows_mode_errors_on_the_field(alice, project_a, nb):
    network, _ = services.create_network(alice, project_a, name="n")
    response = signed_in(alice, project_a).post(
        "/network/subnets/new/",
        {"network": network.pk, "cidr": "10.0.0.0/24", "enable_dhcp": "on", "ipv6_ra_mode": "slaac"},
    )
    assert response.status_code == 400
    assert 'data-error-for="ipv6_ra_mode"' in response.content.decode()
    assert not Subnet.objects.exists()


def test_the_subnet_form_makes_a_slaac_subnet(alice, project_a, nb, run_tasks):
    network, _ = services.create_network(alice, project_a, name="n")
    with run_tasks():
        response = signed_in(alice, project_a).post(
            "/network/subnets/new/",
            {
                "network": network.pk,
                "cidr": V6,
                "enable_dhcp": "on",
                "ipv6_ra_mode": "slaac",
                "ipv6_address_mode": "slaac",
            },
        )
    assert response.status_code == 302
    subnet = Subnet.objects.get()
    assert subnet.ipv6_ra_mode == subnet.ipv6_address_mode == "slaac"
