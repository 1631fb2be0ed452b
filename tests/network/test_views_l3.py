"""The router and floating IP pages: interfaces and gateway, association, against a real OVN
NB; another tenant's objects are 404s or invalid choices, readers see but cannot change."""

from types import SimpleNamespace

import pytest

from network import services
from network.models import FloatingIP, Port, Router, RouterInterface
from tests.network.conftest import choices, signed_in


def address(port):
    return port.ip_allocations.get().address


def nats(nb, external_ip):
    return [row for row in nb.rows("NAT", type="dnat_and_snat") if row["external_ip"] == external_ip]


def test_adding_an_interface_from_the_router_page_joins_the_subnet_in_ovn(browser, lab, nb, run_tasks):
    with run_tasks():
        response = browser.post(f"/network/routers/{lab.router.pk}/add-interface/", {"subnet": lab.subnet.pk})
    assert response.status_code == 302
    interface = RouterInterface.objects.get(router=lab.router)
    assert interface.subnet == lab.subnet
    [lrp] = nb.rows("Logical_Router_Port", name=interface.lrp_name)
    assert lrp["networks"] == "10.0.0.1/24"
    page = browser.get(f"/network/routers/{lab.router.pk}/").content.decode()
    assert f'data-subnet="{lab.subnet.pk}"' in page and "10.0.0.0/24" in page


def test_removing_an_interface_takes_it_out_of_ovn(browser, lab, nb, alice, run_tasks):
    with run_tasks():
        services.add_interface(alice, lab.router, lab.subnet)
    name = RouterInterface.objects.get(router=lab.router).lrp_name
    with run_tasks():
        response = browser.post(f"/network/routers/{lab.router.pk}/remove-interface/", {"subnet": lab.subnet.pk})
    assert response.status_code == 302
    assert not RouterInterface.objects.exists()
    assert nb.rows("Logical_Router_Port", name=name) == []


def test_a_subnet_without_a_gateway_address_is_a_field_error_and_adds_nothing(browser, lab):
    ports = Port.objects.count()
    response = browser.post(f"/network/routers/{lab.router.pk}/add-interface/", {"subnet": lab.bare.pk})
    assert response.status_code == 400
    assert 'data-error-for="subnet"' in response.content.decode()
    assert not RouterInterface.objects.exists() and Port.objects.count() == ports


def test_removing_an_interface_floating_ips_still_use_is_refused(browser, lab, alice, run_tasks):
    with run_tasks():
        services.add_interface(alice, lab.router, lab.subnet)
        services.associate(alice, lab.fip, lab.db)
    response = browser.post(f"/network/routers/{lab.router.pk}/remove-interface/", {"subnet": lab.subnet.pk})
    assert response.status_code == 400
    assert "disassociate them first" in response.content.decode()
    assert RouterInterface.objects.filter(router=lab.router).exists()


def test_the_gateway_is_cleared_and_set_again_from_the_router_page(browser, lab, nb, run_tasks):
    with run_tasks():
        assert browser.post(f"/network/routers/{lab.router.pk}/gateway/", {"external_network": ""}).status_code == 302
    lab.router.refresh_from_db()
    assert lab.router.external_network is None and lab.router.gateway_port is None
    assert nb.rows("Logical_Router_Port", name=lab.router.gateway_lrp_name) == []
    with run_tasks():
        browser.post(f"/network/routers/{lab.router.pk}/gateway/", {"external_network": lab.public.pk})
    lab.router.refresh_from_db()
    assert lab.router.external_network == lab.public
    assert nb.rows("Logical_Router_Port", name=lab.router.gateway_lrp_name)


def test_a_network_that_is_not_external_is_not_a_gateway_choice(browser, lab):
    response = browser.post(f"/network/routers/{lab.router.pk}/gateway/", {"external_network": lab.web.pk})
    assert response.status_code == 400 and 'data-error-for="external_network"' in response.content.decode()
    lab.router.refresh_from_db()
    assert lab.router.external_network == lab.public


def test_associating_moving_and_disassociating_a_floating_ip(browser, lab, nb, alice, run_tasks):
    with run_tasks():
        services.add_interface(alice, lab.router, lab.subnet)
    url = f"/network/floating-ips/{lab.fip.pk}/"
    assert 'id="associate-form"' in browser.get(url).content.decode()
    with run_tasks():
        assert browser.post(url + "associate/", {"port": lab.db.pk}).status_code == 302
    lab.fip.refresh_from_db()
    assert (lab.fip.port, lab.fip.fixed_ip, lab.fip.router) == (lab.db, address(lab.db), lab.router)
    assert [row["logical_ip"] for row in nats(nb, lab.fip.address)] == [address(lab.db)]
    with run_tasks():
        browser.post(url + "associate/", {"port": lab.app.pk})
    assert [row["logical_ip"] for row in nats(nb, lab.fip.address)] == [address(lab.app)]
    with run_tasks():
        assert browser.post(url + "disassociate/").status_code == 302
    lab.fip.refresh_from_db()
    assert lab.fip.port is None and nats(nb, lab.fip.address) == []


def test_a_port_no_router_reaches_is_a_field_error_and_leaves_the_floating_ip(browser, lab):
    response = browser.post(f"/network/floating-ips/{lab.fip.pk}/associate/", {"port": lab.db.pk})
    assert response.status_code == 400
    assert "No router connects" in response.content.decode()
    lab.fip.refresh_from_db()
    assert lab.fip.port is None and lab.fip.fixed_ip is None


def test_a_router_port_is_not_a_floating_ip_choice(browser, lab, alice, run_tasks):
    with run_tasks():
        services.add_interface(alice, lab.router, lab.subnet)
    interface_port = RouterInterface.objects.get().port
    response = browser.post(f"/network/floating-ips/{lab.fip.pk}/associate/", {"port": interface_port.pk})
    assert response.status_code == 400 and 'data-error-for="port"' in response.content.decode()


@pytest.fixture
def theirs(nb, charlie, project_b, run_tasks):
    """Charlie's subnet and port in another project."""
    with run_tasks():
        network, _ = services.create_network(charlie, project_b, name="other")
        subnet, _ = services.create_subnet(charlie, network, cidr="10.0.0.0/24", gateway_ip="10.0.0.1")
    with run_tasks():
        port, _ = services.create_port(charlie, project_b, network, name="their-port")
    return SimpleNamespace(subnet=subnet, port=port)


def test_another_tenants_subnet_and_port_are_neither_offered_nor_accepted(browser, lab, theirs):
    page = browser.get(f"/network/routers/{lab.router.pk}/").content.decode()
    offered = choices(page, "add-interface-form", "subnet")
    assert lab.subnet.pk in offered and theirs.subnet.pk not in offered
    page = browser.get(f"/network/floating-ips/{lab.fip.pk}/").content.decode()
    assert choices(page, "associate-form", "port") == {lab.db.pk, lab.app.pk}
    response = browser.post(f"/network/routers/{lab.router.pk}/add-interface/", {"subnet": theirs.subnet.pk})
    assert response.status_code == 400 and 'data-error-for="subnet"' in response.content.decode()
    assert not RouterInterface.objects.exists()
    response = browser.post(f"/network/floating-ips/{lab.fip.pk}/associate/", {"port": theirs.port.pk})
    assert response.status_code == 400 and 'data-error-for="port"' in response.content.decode()
    assert FloatingIP.objects.get(pk=lab.fip.pk).port is None


def test_another_tenants_router_and_floating_ip_are_404s(lab, charlie, project_b, theirs):
    client = signed_in(charlie, project_b)
    router, fip = f"/network/routers/{lab.router.pk}/", f"/network/floating-ips/{lab.fip.pk}/"
    assert client.get(router).status_code == 404 and client.get(fip).status_code == 404
    assert client.post(router + "gateway/", {"external_network": ""}).status_code == 404
    assert client.post(router + "add-interface/", {"subnet": theirs.subnet.pk}).status_code == 404
    assert client.post(fip + "associate/", {"port": theirs.port.pk}).status_code == 404
    assert Router.objects.get(pk=lab.router.pk).external_network == lab.public
    assert not RouterInterface.objects.exists() and FloatingIP.objects.get(pk=lab.fip.pk).port is None


def test_a_reader_sees_the_pages_but_cannot_change_anything(lab, bob, project_a):
    client = signed_in(bob, project_a)
    router, fip = f"/network/routers/{lab.router.pk}/", f"/network/floating-ips/{lab.fip.pk}/"
    page = client.get(router).content.decode()
    assert "edge" in page and 'id="add-interface-form"' not in page and 'id="gateway-form"' not in page
    assert 'id="associate-form"' not in client.get(fip).content.decode()
    assert client.post(router + "add-interface/", {"subnet": lab.subnet.pk}).status_code == 403
    assert client.post(router + "gateway/", {"external_network": ""}).status_code == 403
    assert client.post(fip + "associate/", {"port": lab.db.pk}).status_code == 403
    assert not RouterInterface.objects.exists() and Router.objects.get(pk=lab.router.pk).external_network == lab.public


def test_an_unknown_action_is_404(browser, lab):
    assert browser.post(f"/network/routers/{lab.router.pk}/explode/").status_code == 404
    assert browser.post(f"/network/floating-ips/{lab.fip.pk}/explode/").status_code == 404
