"""Static routes and the SNAT switch on the router page, through update_router to a real OVN
NB; bad routes are field errors that leave the router as it was."""

from types import SimpleNamespace

import pytest

from network import services
from network.models import Router
from tests.network.conftest import signed_in

ROUTE = {"destination": "192.168.5.0/24", "nexthop": "10.0.0.254"}


@pytest.fixture
def edge(lab, alice, run_tasks):
    """The lab's router (gateway on a public network) with an interface on Alice's subnet."""
    with run_tasks():
        services.add_interface(alice, lab.router, lab.subnet)
    return SimpleNamespace(router=lab.router, url=f"/network/routers/{lab.router.pk}/")


def static_routes(nb, prefix):
    return [row["nexthop"] for row in nb.rows("Logical_Router_Static_Route", ip_prefix=prefix)]


def snats(nb):
    return [row["logical_ip"] for row in nb.rows("NAT", type="snat")]


def routes_of(router):
    return Router.objects.get(pk=router.pk).routes


def test_a_static_route_is_added_and_removed_from_the_router_page(browser, edge, nb, run_tasks):
    with run_tasks():
        response = browser.post(edge.url + "add-route/", {"route": "192.168.5.0/24 via 10.0.0.254"})
    assert response.status_code == 302
    assert routes_of(edge.router) == [ROUTE]
    assert static_routes(nb, "192.168.5.0/24") == ["10.0.0.254"]
    page = browser.get(edge.url).content.decode()
    assert 'data-route="192.168.5.0/24 via 10.0.0.254"' in page
    with run_tasks():
        response = browser.post(edge.url + "remove-route/", {"route": "192.168.5.0/24 via 10.0.0.254"})
    assert response.status_code == 302
    assert routes_of(edge.router) == [] and static_routes(nb, "192.168.5.0/24") == []


@pytest.mark.parametrize(
    "route, field, says",
    [
        ("192.168.5.0/24 10.0.0.254", "route", "is not destination via nexthop"),
        ("192.168.5.1/24 via 10.0.0.254", "route", "is not destination via nexthop"),
        ("fd00:5::/64 via 10.0.0.254", None, "needs a next hop of the same IP version"),
        ("192.168.6.0/24 via 10.0.0.253", None, "is already there"),
    ],
)
def test_a_bad_route_is_an_error_and_leaves_the_routes(browser, edge, alice, nb, run_tasks, route, field, says):
    with run_tasks():
        services.update_router(alice, edge.router, routes=[{"destination": "192.168.6.0/24", "nexthop": "10.0.0.253"}])
    response = browser.post(edge.url + "add-route/", {"route": route})
    page = response.content.decode()
    assert response.status_code == 400 and says in page
    assert field is None or f'data-error-for="{field}"' in page
    assert routes_of(edge.router) == [{"destination": "192.168.6.0/24", "nexthop": "10.0.0.253"}]
    assert page.count("data-route=") == 1  # the page shows the routes the database holds


def test_removing_a_route_the_router_does_not_have_is_an_error(browser, edge):
    response = browser.post(edge.url + "remove-route/", {"route": "192.168.5.0/24 via 10.0.0.254"})
    assert response.status_code == 400 and 'data-error-for="remove-route"' in response.content.decode()


def test_snat_is_turned_off_and_on_again(browser, edge, nb, run_tasks):
    assert snats(nb) == ["10.0.0.0/24"]
    assert 'name="enable_snat" id="id_enable_snat" checked' in browser.get(edge.url).content.decode()
    with run_tasks():
        assert browser.post(edge.url + "snat/", {}).status_code == 302
    assert Router.objects.get(pk=edge.router.pk).enable_snat is False and snats(nb) == []
    with run_tasks():
        browser.post(edge.url + "snat/", {"enable_snat": "on"})
    assert Router.objects.get(pk=edge.router.pk).enable_snat is True and snats(nb) == ["10.0.0.0/24"]


def test_another_tenant_gets_404s_and_changes_nothing(edge, alice, charlie, project_b, run_tasks):
    with run_tasks():
        services.update_router(alice, edge.router, routes=[ROUTE])
    outsider = signed_in(charlie, project_b)
    assert outsider.post(edge.url + "add-route/", {"route": "192.168.9.0/24 via 10.0.0.254"}).status_code == 404
    assert outsider.post(edge.url + "remove-route/", {"route": "192.168.5.0/24 via 10.0.0.254"}).status_code == 404
    assert outsider.post(edge.url + "snat/", {}).status_code == 404
    router = Router.objects.get(pk=edge.router.pk)
    assert (router.routes, router.enable_snat) == ([ROUTE], True)


def test_a_reader_sees_routes_and_snat_but_cannot_change_them(edge, alice, bob, project_a, run_tasks):
    with run_tasks():
        services.update_router(alice, edge.router, routes=[ROUTE])
    reader = signed_in(bob, project_a)
    page = reader.get(edge.url).content.decode()
    assert 'data-route="192.168.5.0/24 via 10.0.0.254"' in page and 'id="snat">on<' in page
    assert 'id="add-route-form"' not in page and 'id="snat-form"' not in page and 'name="route"' not in page
    assert reader.post(edge.url + "add-route/", {"route": "192.168.9.0/24 via 10.0.0.254"}).status_code == 403
    assert reader.post(edge.url + "remove-route/", {"route": "192.168.5.0/24 via 10.0.0.254"}).status_code == 403
    assert reader.post(edge.url + "snat/", {}).status_code == 403
    router = Router.objects.get(pk=edge.router.pk)
    assert (router.routes, router.enable_snat) == ([ROUTE], True)
