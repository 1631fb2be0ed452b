"""The network pages: lists, create forms with field errors, the topology drawing."""

import pytest
from django.test import Client

from network import services
from network.models import Network, Subnet
from tests.network.conftest import signed_in


@pytest.mark.parametrize(
    "slug",
    [
        "networks",
        "subnets",
        "ports",
        "security-groups",
        "security-group-rules",
        "routers",
        "floating-ips",
        "load-balancers",
    ],
)
def test_every_list_and_create_page_renders(browser, slug, db):
    assert browser.get(f"/network/{slug}/").status_code == 200
    assert browser.get(f"/network/{slug}/new/").status_code == 200


def test_creating_a_network_and_subnet_from_the_forms(browser, nb, project_a, run_tasks):
    with run_tasks():
        response = browser.post("/network/networks/new/", {"name": "frontend"})
    assert response.status_code == 302
    network = Network.objects.get(name="frontend")
    with run_tasks():
        browser.post("/network/subnets/new/", {"network": network.pk, "cidr": "10.5.0.0/24", "enable_dhcp": "on"})
    assert Subnet.objects.get(network=network).gateway_ip is None
    assert nb.rows("Logical_Switch", name=network.switch_name)
    assert "10.5.0.0/24" in browser.get("/network/subnets/").content.decode()


def test_a_bad_cidr_comes_back_as_a_field_error(browser, nb, alice, project_a):
    network, _ = services.create_network(alice, project_a, name="n")
    response = browser.post("/network/subnets/new/", {"network": network.pk, "cidr": "10.0.0.0/33"})
    assert response.status_code == 400
    assert 'data-error-for="cidr"' in response.content.decode()
    assert not Subnet.objects.exists()


def test_the_topology_shows_networks_routers_ports_and_floating_ips(
    browser, nb, alice, admin_user, project_a, run_tasks
):
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="backend-net")
        subnet, _ = services.create_subnet(alice, network, cidr="10.0.0.0/24", gateway_ip="10.0.0.1")
        public, _ = services.create_network(admin_user, project_a, name="public", external=True)
        services.create_subnet(admin_user, public, cidr="172.24.4.0/24", gateway_ip="172.24.4.1")
        router, _ = services.create_router(alice, project_a, name="edge", external_network=public)
    with run_tasks():
        services.add_interface(alice, router, subnet)
        port, _ = services.create_port(alice, project_a, network, name="db")
    with run_tasks():
        fip, _ = services.create_floating_ip(alice, project_a, public, port=port)
    page = browser.get("/network/topology/").content.decode()
    assert "backend-net" in page and "public" in page and ">edge<" in page and ">db<" in page
    assert fip.allocation.address in page


def test_the_page_says_which_backend_realises_networks(browser, monkeypatch, db):
    monkeypatch.setenv("NUBES_OVN_NB", "")
    page = browser.get("/network/").content.decode()
    assert 'data-backend="libvirt"' in page and "need OVN" in page


def test_an_unknown_resource_is_404(browser, db):
    assert browser.get("/network/nothing/").status_code == 404


def test_the_delete_button_deletes_through_the_service(browser, nb, alice, project_a, run_tasks):
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="doomed")
    assert f'data-delete="{network.pk}"' in browser.get("/network/networks/").content.decode()
    with run_tasks():
        response = browser.post(f"/network/networks/{network.pk}/delete/")
    assert response.status_code == 302
    assert not Network.objects.filter(pk=network.pk).exists()
    assert nb.rows("Logical_Switch", name=network.switch_name) == []


def test_a_refused_delete_says_why_and_keeps_the_object(browser, nb, alice, project_a, run_tasks):
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="busy")
        services.create_port(alice, project_a, network)
    response = browser.post(f"/network/networks/{network.pk}/delete/", follow=True)
    assert "still has ports" in response.content.decode()
    assert Network.objects.filter(pk=network.pk).exists()


def test_another_tenants_object_cannot_be_deleted(nb, charlie, alice, project_a, run_tasks):
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="theirs")
    client = Client()
    client.force_login(charlie)
    assert client.post(f"/network/networks/{network.pk}/delete/").status_code == 404
    assert Network.objects.filter(pk=network.pk).exists()


def test_a_reader_cannot_delete(nb, bob, alice, project_a, run_tasks):
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="kept")
    client = Client()
    client.force_login(bob)
    response = client.post(f"/network/networks/{network.pk}/delete/", follow=True)
    assert "Readers cannot delete" in response.content.decode()
    assert Network.objects.get(pk=network.pk).state != "deleting"


def test_a_reader_cannot_create(nb, bob, project_a):
    client = signed_in(bob, project_a)
    assert client.get("/network/networks/new/").status_code == 403
    assert client.post("/network/networks/new/", {"name": "mine"}).status_code == 403
    assert not Network.objects.exists()
