"""Allocation pools and host routes in the subnet create and edit forms, one per line, through
the services to IPAM and OVN's DHCP options; the subnet list shows the IPv6 modes."""

import re

import pytest

from network import services
from network.models import Subnet
from tests.network.conftest import signed_in

POOLS = "10.0.0.50-10.0.0.59\n10.0.0.100-10.0.0.109"
ROUTES = "192.168.7.0/24,10.0.0.254"


@pytest.fixture
def web(nb, alice, project_a, run_tasks):
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="web")
    return network


@pytest.fixture
def subnet(web, alice, run_tasks):
    with run_tasks():
        subnet, _ = services.create_subnet(alice, web, cidr="10.0.0.0/24", gateway_ip="10.0.0.1")
    return subnet


def dhcp_options(nb, cidr):
    [row] = nb.rows("DHCP_Options", cidr=cidr)
    return dict(row["options"][1])


def create(client, network, **fields):
    return client.post(
        "/network/subnets/new/",
        {"network": network.pk, "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1", "enable_dhcp": "on", **fields},
    )


def test_a_subnet_made_with_pools_and_host_routes_hands_them_out(browser, web, nb, alice, project_a, run_tasks):
    with run_tasks():
        response = create(browser, web, allocation_pools=POOLS, host_routes=ROUTES)
    assert response.status_code == 302
    subnet = Subnet.objects.get(network=web)
    assert subnet.allocation_pools == [["10.0.0.50", "10.0.0.59"], ["10.0.0.100", "10.0.0.109"]]
    assert subnet.host_routes == [{"destination": "192.168.7.0/24", "nexthop": "10.0.0.254"}]
    assert (
        dhcp_options(nb, "10.0.0.0/24")["classless_static_route"] == "{192.168.7.0/24,10.0.0.254, 0.0.0.0/0,10.0.0.1}"
    )
    with run_tasks():
        port, _ = services.create_port(alice, project_a, web)
    assert port.ip_allocations.get().address == "10.0.0.50"


def test_the_edit_form_shows_pools_and_routes_one_per_line_and_changes_them(browser, subnet, nb, run_tasks):
    url = f"/network/subnets/{subnet.pk}/edit/"
    assert "10.0.0.2-10.0.0.254</textarea>" in browser.get(url).content.decode()
    with run_tasks():
        response = browser.post(
            url, {"gateway_ip": "10.0.0.1", "enable_dhcp": "on", "allocation_pools": POOLS, "host_routes": ROUTES}
        )
    assert response.status_code == 302
    subnet.refresh_from_db()
    assert subnet.allocation_pools == [["10.0.0.50", "10.0.0.59"], ["10.0.0.100", "10.0.0.109"]]
    assert "192.168.7.0/24,10.0.0.254" in dhcp_options(nb, "10.0.0.0/24")["classless_static_route"]
    page = browser.get(url).content.decode()
    assert f"{POOLS}</textarea>" in page and f"{ROUTES}</textarea>" in page


def test_emptied_pools_become_the_whole_subnet_but_the_gateway(browser, subnet, alice, run_tasks):
    with run_tasks():
        services.update_subnet(alice, subnet, allocation_pools=[["10.0.0.50", "10.0.0.59"]])
    with run_tasks():
        browser.post(f"/network/subnets/{subnet.pk}/edit/", {"gateway_ip": "10.0.0.1", "enable_dhcp": "on"})
    assert Subnet.objects.get(pk=subnet.pk).allocation_pools == [["10.0.0.2", "10.0.0.254"]]


@pytest.mark.parametrize(
    "field, text, says",
    [
        ("allocation_pools", "10.0.0.50-10.0.0.59\n10.0.0.70", "Line 2: &#x27;10.0.0.70&#x27;"),
        ("allocation_pools", "10.0.1.50-10.0.1.59", "not an ordered range of host addresses in 10.0.0.0/24"),
        ("allocation_pools", "10.0.0.1-10.0.0.9", "contains the gateway 10.0.0.1"),
        ("host_routes", "192.168.7.0/24 via 10.0.0.254", "Line 1: &#x27;192.168.7.0/24 via 10.0.0.254&#x27;"),
        ("host_routes", "192.168.7.0/24,172.16.0.1", "must be in 10.0.0.0/24"),
    ],
)
def test_bad_pools_or_routes_are_field_errors_and_write_nothing(browser, web, subnet, field, text, says):
    response = browser.post(
        f"/network/subnets/{subnet.pk}/edit/",
        {"name": "renamed", "gateway_ip": "10.0.0.1", "enable_dhcp": "on", field: text},
    )
    page = response.content.decode()
    assert response.status_code == 400 and f'data-error-for="{field}"' in page and says in page
    kept = Subnet.objects.get(pk=subnet.pk)
    assert (kept.name, kept.allocation_pools, kept.host_routes) == ("", [["10.0.0.2", "10.0.0.254"]], [])
    response = create(browser, web, cidr="10.1.0.0/24", gateway_ip="10.1.0.1", **{field: text})
    assert response.status_code == 400 and f'data-error-for="{field}"' in response.content.decode()
    assert Subnet.objects.count() == 1


def test_another_projects_network_is_no_choice_and_its_subnet_a_404(browser, subnet, charlie, project_b, run_tasks):
    with run_tasks():
        theirs, _ = services.create_network(charlie, project_b, name="theirs")
    response = create(browser, theirs, allocation_pools=POOLS)
    assert response.status_code == 400 and 'data-error-for="network"' in response.content.decode()
    assert not Subnet.objects.filter(network=theirs).exists()
    outsider = signed_in(charlie, project_b)
    url = f"/network/subnets/{subnet.pk}/edit/"
    assert outsider.post(url, {"gateway_ip": "10.0.0.1", "allocation_pools": POOLS}).status_code == 404
    assert Subnet.objects.get(pk=subnet.pk).allocation_pools == [["10.0.0.2", "10.0.0.254"]]


def test_a_reader_may_neither_create_nor_edit_subnets(subnet, web, bob, project_a):
    reader = signed_in(bob, project_a)
    assert create(reader, web, cidr="10.1.0.0/24", gateway_ip="10.1.0.1").status_code == 403
    response = reader.post(f"/network/subnets/{subnet.pk}/edit/", {"gateway_ip": "10.0.0.1", "allocation_pools": POOLS})
    assert response.status_code == 403
    assert Subnet.objects.get().allocation_pools == [["10.0.0.2", "10.0.0.254"]]
    assert reader.get("/network/subnets/").status_code == 200


def test_the_subnet_list_shows_ipv6_modes_where_set(browser, web, alice, run_tasks):
    with run_tasks():
        slaac, _ = services.create_subnet(
            alice, web, cidr="fd00:1::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac"
        )
        stateful, _ = services.create_subnet(alice, web, cidr="fd00:2::/64", ipv6_address_mode="dhcpv6-stateful")
        v4, _ = services.create_subnet(alice, web, cidr="10.0.0.0/24")
    page = browser.get("/network/subnets/").content.decode()
    cells = dict(re.findall(r'<tr data-id="(\d+)".*?data-field="ipv6-modes">([^<]*)<', page, re.S))
    assert cells == {
        str(slaac.pk): "RA: SLAAC, addresses: SLAAC",
        str(stateful.pk): "addresses: DHCPv6 stateful",
        str(v4.pk): "—",
    }
