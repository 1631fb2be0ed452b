"""Through the REST API: creating things realises them in OVN; bad input is a clear 4xx and
writes nothing to OVN; tenants are isolated (overlapping CIDRs work, other tenants' ids don't)."""

import pytest

NETS, SUBNETS, PORTS = "/api/v1/networks/", "/api/v1/subnets/", "/api/v1/ports/"
RULES, GROUPS = "/api/v1/security-group-rules/", "/api/v1/security-groups/"


@pytest.fixture
def alice_net(api, nb, run_tasks):
    with run_tasks():
        network = api["alice"].post(NETS, {"name": "web"}, format="json")
    assert network.status_code == 201, network.json()
    with run_tasks():
        subnet = api["alice"].post(
            SUBNETS, {"network": network.json()["id"], "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1"}, format="json"
        )
    assert subnet.status_code == 201, subnet.json()
    return network.json(), subnet.json()


def nb_counts(nb):
    return {table: len(nb.rows(table)) for table in ("Logical_Switch", "Logical_Switch_Port", "DHCP_Options", "ACL")}


def test_the_api_says_which_backend_realised_a_network(api, alice_net, nb):
    network, _ = alice_net
    body = api["alice"].get(f"{NETS}{network['id']}/").json()
    assert body["backend"] == "ovn" and body["backend_label"] == "OVN" and body["state"] == "active"
    assert nb.rows("Logical_Switch", name=f"nubes-{network['uuid']}")


def test_overlapping_cidrs_in_two_projects_both_work(api, alice_net, nb, run_tasks):
    with run_tasks():
        network = api["charlie"].post(NETS, {"name": "web"}, format="json").json()
    with run_tasks():
        subnet = api["charlie"].post(SUBNETS, {"network": network["id"], "cidr": "10.0.0.0/24"}, format="json")
    assert subnet.status_code == 201
    assert len(nb.rows("DHCP_Options")) == 2 and len(nb.rows("Logical_Switch")) == 2


@pytest.mark.parametrize(
    "body, field",
    [
        ({"cidr": "10.0.0.0/33"}, "cidr"),
        ({"cidr": "10.0.0.128/25"}, "cidr"),  # overlaps 10.0.0.0/24 already on the network
        ({"cidr": "10.1.0.0/24", "gateway_ip": "10.2.0.1"}, "gateway_ip"),
        ({"cidr": "10.1.0.0/24", "allocation_pools": [["10.1.0.50", "10.1.1.10"]]}, "allocation_pools"),
        ({"cidr": "10.1.0.0/24", "surprise": 1}, "surprise"),
    ],
)
def test_bad_subnets_are_refused_and_nothing_reaches_ovn(api, alice_net, nb, body, field):
    network, _ = alice_net
    before = nb_counts(nb)
    response = api["alice"].post(SUBNETS, {"network": network["id"], **body}, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert nb_counts(nb) == before


def test_an_address_in_use_is_a_conflict(api, alice_net, nb, run_tasks):
    network, subnet = alice_net
    fixed = [{"subnet": subnet["id"], "ip_address": "10.0.0.7"}]
    with run_tasks():
        first = api["alice"].post(PORTS, {"network": network["id"], "fixed_ips": fixed}, format="json")
    assert first.status_code == 201 and first.json()["fixed_ips"][0]["ip_address"] == "10.0.0.7"
    before = nb_counts(nb)
    second = api["alice"].post(PORTS, {"network": network["id"], "fixed_ips": fixed}, format="json")
    assert second.status_code == 409 and "in use" in second.json()["fixed_ips"][0]
    assert nb_counts(nb) == before


@pytest.mark.parametrize(
    "body, field",
    [
        ({"protocol": "tcp", "port_range_min": 70000, "port_range_max": 70000}, "port_range_min"),
        ({"protocol": "tcp", "port_range_min": 90, "port_range_max": 80}, "port_range_max"),
        ({"protocol": "icmp", "port_range_min": 80, "port_range_max": 80}, "protocol"),
        ({"remote_cidr": "10.0.0.0/33"}, "remote_cidr"),
        ({"direction": "sideways"}, "direction"),
    ],
)
def test_bad_rules_are_refused_and_nothing_reaches_ovn(api, alice_net, nb, project_a, body, field):
    group = api["alice"].get(f"{GROUPS}?project={project_a.pk}").json()["results"][0]
    before = nb_counts(nb)
    response = api["alice"].post(RULES, {"group": group["id"], "direction": "ingress", **body}, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert nb_counts(nb) == before


def test_charlie_cannot_use_alices_network_or_port(api, alice_net, nb, run_tasks):
    network, subnet = alice_net
    with run_tasks():
        port = api["alice"].post(PORTS, {"network": network["id"]}, format="json").json()
    assert api["charlie"].post(PORTS, {"network": network["id"]}, format="json").status_code == 400
    assert (
        api["charlie"].post(SUBNETS, {"network": network["id"], "cidr": "10.9.0.0/24"}, format="json").status_code
        == 400
    )
    assert api["charlie"].get(f"{PORTS}{port['id']}/").status_code == 404
    router = api["charlie"].post("/api/v1/routers/", {"name": "r"}, format="json").json()
    response = api["charlie"].post(
        f"/api/v1/routers/{router['id']}/add-interface/", {"subnet": subnet["id"]}, format="json"
    )
    assert response.status_code == 400
    assert len(nb.rows("Logical_Switch_Port")) == 1


def test_a_reader_cannot_add_rules(api, alice_net, project_a):
    group = api["bob"].get(f"{GROUPS}?project={project_a.pk}").json()["results"][0]
    response = api["bob"].post(RULES, {"group": group["id"], "direction": "ingress"}, format="json")
    assert response.status_code == 403


def test_router_actions_answer_with_an_operation(api, alice_net, nb, run_tasks):
    _, subnet = alice_net
    with run_tasks():
        router = api["alice"].post("/api/v1/routers/", {"name": "r"}, format="json").json()
    with run_tasks():
        response = api["alice"].post(
            f"/api/v1/routers/{router['id']}/add-interface/", {"subnet": subnet["id"]}, format="json"
        )
    assert response.status_code == 202 and response.json()["kind"] == "router.add_interface"
    assert nb.rows("Logical_Router_Port")[0]["networks"] == "10.0.0.1/24"


def test_the_libvirt_backend_refuses_routers_clearly(api, monkeypatch, db):
    monkeypatch.setenv("NUBES_OVN_NB", "")
    response = api["alice"].post("/api/v1/routers/", {"name": "r"}, format="json")
    assert response.status_code == 400 and "libvirt" in response.json()["detail"]


@pytest.mark.parametrize(
    "routes",
    [
        [{"destination": "fd00:5::/64", "nexthop": "10.0.0.254"}],  # OVN would ignore a route of mixed versions
        [{"destination": "192.168.5.0/24", "nexthop": "10.0.0.254"}] * 2,
    ],
)
def test_bad_router_routes_are_refused_and_change_nothing(api, nb, run_tasks, routes):
    with run_tasks():
        router = api["alice"].post("/api/v1/routers/", {"name": "r"}, format="json").json()
    response = api["alice"].patch(f"/api/v1/routers/{router['id']}/", {"routes": routes}, format="json")
    assert response.status_code == 400 and "routes" in response.json(), response.json()
    assert api["alice"].get(f"/api/v1/routers/{router['id']}/").json()["routes"] == []
    assert nb.rows("Logical_Router_Static_Route") == []


def test_a_member_listed_twice_is_refused_not_a_server_error(api, alice_net, nb):
    _, subnet = alice_net
    member = {"address": "10.0.0.20", "port": 8080}
    response = api["alice"].post(
        "/api/v1/load-balancers/",
        {"name": "lb", "subnet": subnet["id"], "protocol": "tcp", "port": 80, "members": [member, member]},
        format="json",
    )
    assert response.status_code == 400 and "listed twice" in str(response.json()), response.json()
    assert api["alice"].get("/api/v1/load-balancers/").json()["count"] == 0
