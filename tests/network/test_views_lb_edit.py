"""Load balancer members (address:port, one per line) and health-check settings in the create
and edit forms, through the services to a real OVN NB; refusals change nothing."""

from types import SimpleNamespace

import pytest

from network import services
from network.models import LoadBalancer
from tests.network.conftest import signed_in

MEMBERS = [{"address": "10.0.0.20", "port": 8080}, {"address": "10.0.0.21", "port": 8080}]
HEALTH = {"hc_interval": "5", "hc_timeout": "20", "hc_success_count": "3", "hc_failure_count": "3"}


@pytest.fixture
def web(nb, alice, project_a, run_tasks):
    """Alice's subnet and a health-checked load balancer on it."""
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="web")
        subnet, _ = services.create_subnet(alice, network, cidr="10.0.0.0/24", gateway_ip="10.0.0.1")
    with run_tasks():
        lb, _ = services.create_load_balancer(
            alice, project_a, subnet, name="front", protocol="tcp", port=80, members=MEMBERS
        )
    return SimpleNamespace(subnet=subnet, lb=lb, url=f"/network/load-balancers/{lb.pk}/edit/")


def members_of(lb):
    return [(m.address, m.port) for m in LoadBalancer.objects.get(pk=lb.pk).members.all()]


def ovn_backends(nb, lb):
    [row] = nb.rows("Load_Balancer", name=lb.lb_name)
    return dict(row["vips"][1])


def edit(client, url, **fields):
    return client.post(
        url,
        {
            "name": "front",
            "protocol": "tcp",
            "port": "80",
            "members": "10.0.0.20:8080",
            "health_check": "on",
            **HEALTH,
            **fields,
        },
    )


def test_the_edit_form_shows_members_one_per_line(browser, web):
    page = browser.get(web.url).content.decode()
    assert "10.0.0.20:8080\n10.0.0.21:8080</textarea>" in page and 'name="hc_interval" value="5"' in page
    assert f'data-edit="{web.lb.pk}"' in browser.get("/network/load-balancers/").content.decode()


def test_members_and_health_checks_are_changed_in_ovn(browser, web, nb, run_tasks):
    with run_tasks():
        response = edit(
            browser, web.url, members="10.0.0.30:8080\n\n10.0.0.31:9090", hc_interval="7", hc_failure_count="5"
        )
    assert response.status_code == 302
    assert members_of(web.lb) == [("10.0.0.30", 8080), ("10.0.0.31", 9090)]
    assert ovn_backends(nb, web.lb) == {f"{web.lb.vip}:80": "10.0.0.30:8080,10.0.0.31:9090"}
    [check] = nb.rows("Load_Balancer_Health_Check")
    assert dict(check["options"][1])["interval"] == "7" and dict(check["options"][1])["failure_count"] == "5"


def test_turning_health_checks_off_gives_the_monitor_address_back(browser, web, nb, run_tasks):
    assert web.lb.monitor_address is not None
    with run_tasks():
        assert edit(browser, web.url, health_check="").status_code == 302
    lb = LoadBalancer.objects.get(pk=web.lb.pk)
    assert lb.health_check is False and lb.monitor_address is None
    assert nb.rows("Load_Balancer_Health_Check") == []


@pytest.mark.parametrize(
    "fields, field, says",
    [
        ({"members": "10.0.0.30:8080\n10.0.0.31"}, "members", "Line 2: &#x27;10.0.0.31&#x27;"),
        ({"members": "192.168.9.9:8080"}, "members", "is in none of the project&#x27;s subnets"),
        ({"members": "10.0.0.30:70000"}, "members", "The member 10.0.0.30:70000"),
        ({"members": "10.0.0.30:8080\n10.0.0.30:8080"}, "members", "10.0.0.30:8080 is listed twice"),
        ({"hc_interval": "0"}, "hc_interval", ""),
        ({"port": "0"}, "port", ""),
    ],
)
def test_bad_input_is_a_field_error_and_changes_nothing(browser, web, nb, fields, field, says):
    response = edit(browser, web.url, name="renamed", **fields)
    page = response.content.decode()
    assert response.status_code == 400 and f'data-error-for="{field}"' in page and says in page
    lb = LoadBalancer.objects.get(pk=web.lb.pk)
    assert (lb.name, lb.port, lb.hc_interval) == ("front", 80, 5)
    assert members_of(lb) == [("10.0.0.20", 8080), ("10.0.0.21", 8080)]
    assert ovn_backends(nb, lb) == {f"{lb.vip}:80": "10.0.0.20:8080,10.0.0.21:8080"}


def test_the_create_form_takes_members_and_health_settings(browser, web, nb, run_tasks):
    with run_tasks():
        response = browser.post(
            "/network/load-balancers/new/",
            {
                "name": "api",
                "subnet": web.subnet.pk,
                "protocol": "tcp",
                "port": "443",
                "members": "10.0.0.40:8443\n10.0.0.41:8443",
                **HEALTH,
                "hc_timeout": "9",
            },
        )
    assert response.status_code == 302
    lb = LoadBalancer.objects.get(name="api")
    assert (lb.health_check, lb.hc_timeout, lb.monitor_address) == (False, 9, None)
    assert ovn_backends(nb, lb) == {f"{lb.vip}:443": "10.0.0.40:8443,10.0.0.41:8443"}


def test_another_projects_subnet_is_no_choice_and_its_load_balancer_a_404(browser, web, charlie, project_b, run_tasks):
    with run_tasks():
        network, _ = services.create_network(charlie, project_b, name="theirs")
        theirs, _ = services.create_subnet(charlie, network, cidr="10.0.0.0/24", gateway_ip="10.0.0.1")
    response = browser.post(
        "/network/load-balancers/new/", {"name": "x", "subnet": theirs.pk, "protocol": "tcp", "port": "80", **HEALTH}
    )
    assert response.status_code == 400 and 'data-error-for="subnet"' in response.content.decode()
    assert LoadBalancer.objects.count() == 1
    outsider = signed_in(charlie, project_b)
    assert outsider.get(web.url).status_code == 404
    assert edit(outsider, web.url, name="mine").status_code == 404
    assert LoadBalancer.objects.get(pk=web.lb.pk).name == "front"


def test_a_reader_cannot_create_or_edit_load_balancers(web, bob, project_a):
    reader = signed_in(bob, project_a)
    assert reader.get("/network/load-balancers/").status_code == 200
    assert edit(reader, web.url, name="mine", members="").status_code == 403
    assert (
        reader.post(
            "/network/load-balancers/new/",
            {"name": "x", "subnet": web.subnet.pk, "protocol": "tcp", "port": "80", **HEALTH},
        ).status_code
        == 403
    )
    assert LoadBalancer.objects.get().name == "front" and len(members_of(web.lb)) == 2
