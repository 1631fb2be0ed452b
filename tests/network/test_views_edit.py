"""The edit forms of networks, subnets and security groups (ports and load balancers have files
of their own): they change what the API lets a tenant PATCH, through the services; refusals are
field errors and change nothing."""

import pytest

from network import services
from network.models import Network, SecurityGroup, Subnet
from tests.network.conftest import signed_in


@pytest.fixture
def net(nb, alice, project_a, run_tasks):
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="web", description="front")
        subnet, _ = services.create_subnet(alice, network, cidr="10.0.0.0/24", gateway_ip="10.0.0.1")
        group, _ = services.create_security_group(alice, project_a, name="ssh")
    return network, subnet, group


def test_the_edit_form_starts_from_the_objects_values(browser, net):
    network, subnet, _ = net
    page = browser.get(f"/network/networks/{network.pk}/edit/").content.decode()
    assert 'value="web"' in page and 'value="front"' in page
    assert f'data-edit="{network.pk}"' in browser.get("/network/networks/").content.decode()
    assert 'value="10.0.0.1"' in browser.get(f"/network/subnets/{subnet.pk}/edit/").content.decode()


def test_renaming_a_network_goes_through_the_service_to_ovn(browser, net, nb, run_tasks):
    network, _, _ = net
    with run_tasks():
        response = browser.post(
            f"/network/networks/{network.pk}/edit/", {"name": "frontend", "description": "x", "mtu": "1400"}
        )
    assert response.status_code == 302
    network.refresh_from_db()
    assert (network.name, network.description, network.mtu) == ("frontend", "x", 1400)
    [switch] = nb.rows("Logical_Switch", name=network.switch_name)
    assert ["mtu", "1400"] in switch["other_config"][1]


def test_an_mtu_the_overlay_cannot_carry_is_a_field_error_and_changes_nothing(browser, net):
    network, _, _ = net
    response = browser.post(f"/network/networks/{network.pk}/edit/", {"name": "renamed", "mtu": "9000"})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-error-for="mtu"' in page and "web" in page
    network.refresh_from_db()
    assert (network.name, network.mtu) == ("web", None)


def test_editing_a_subnets_dns_and_dhcp(browser, net, nb, run_tasks):
    _, subnet, _ = net
    with run_tasks():
        response = browser.post(
            f"/network/subnets/{subnet.pk}/edit/",
            {"name": "s1", "gateway_ip": "10.0.0.1", "dns_nameservers": "9.9.9.9, 1.1.1.1"},
        )
    assert response.status_code == 302
    subnet.refresh_from_db()
    assert (subnet.name, subnet.dns_nameservers, subnet.enable_dhcp) == ("s1", ["9.9.9.9", "1.1.1.1"], False)


def test_a_gateway_outside_the_subnet_is_a_field_error(browser, net):
    _, subnet, _ = net
    response = browser.post(f"/network/subnets/{subnet.pk}/edit/", {"gateway_ip": "192.168.1.1", "enable_dhcp": "on"})
    assert response.status_code == 400 and 'data-error-for="gateway_ip"' in response.content.decode()
    assert Subnet.objects.get(pk=subnet.pk).gateway_ip == "10.0.0.1"


def test_renaming_a_security_group(browser, net, run_tasks):
    _, _, group = net
    with run_tasks():
        browser.post(f"/network/security-groups/{group.pk}/edit/", {"name": "web-in", "description": "http"})
    group.refresh_from_db()
    assert (group.name, group.description) == ("web-in", "http")


def test_resources_without_an_edit_form_have_no_edit_page(browser, net, alice, run_tasks):
    _, _, group = net
    with run_tasks():
        rule, _ = services.create_rule(
            alice, group, direction="ingress", ethertype="IPv4", protocol="tcp", port_range_min=22, port_range_max=22
        )
    assert browser.get(f"/network/security-group-rules/{rule.pk}/edit/").status_code == 404
    page = browser.get("/network/security-group-rules/").content.decode()
    assert f'data-delete="{rule.pk}"' in page and 'data-edit="' not in page


def test_another_tenant_gets_404_and_a_reader_403(net, bob, charlie, project_a, project_b):
    network, subnet, group = net
    outsider, reader = signed_in(charlie, project_b), signed_in(bob, project_a)
    for url in (
        f"/network/networks/{network.pk}/edit/",
        f"/network/subnets/{subnet.pk}/edit/",
        f"/network/security-groups/{group.pk}/edit/",
    ):
        assert outsider.get(url).status_code == 404
        assert outsider.post(url, {"name": "mine"}).status_code == 404
        assert reader.get(url).status_code == 403
        assert reader.post(url, {"name": "mine"}).status_code == 403
    assert Network.objects.get(pk=network.pk).name == "web"
    assert Subnet.objects.get(pk=subnet.pk).name == ""
    assert SecurityGroup.objects.get(pk=group.pk).name == "ssh"
