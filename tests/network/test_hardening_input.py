"""Hardening (issue 18): bad network input is a 4xx naming the field, never a 500, and
nothing reaches OVN."""

import pytest
from django.test.client import MULTIPART_CONTENT, encode_multipart

NETS, SUBNETS, PORTS = "/api/v1/networks/", "/api/v1/subnets/", "/api/v1/ports/"
ROUTERS, GROUPS = "/api/v1/routers/", "/api/v1/security-groups/"


@pytest.mark.parametrize("path", [NETS, ROUTERS, GROUPS])
def test_create_with_an_empty_body_is_a_400_naming_the_name(api, nb, path):
    response = api["alice"].post(path, {}, format="json")
    assert response.status_code == 400 and "name" in response.json(), response.content


def test_router_routes_null_as_multipart_is_a_400_naming_routes(api, nb, run_tasks):
    with run_tasks():
        router = api["alice"].post(ROUTERS, {"name": "r"}, format="json").json()
    body = encode_multipart("BoUnDaRy", {"routes": "null"})
    response = api["alice"].patch(
        f"{ROUTERS}{router['id']}/", body, content_type=MULTIPART_CONTENT.replace("BoUnDaRyStRiNg", "BoUnDaRy")
    )
    assert response.status_code == 400 and "routes" in response.json(), response.content
    assert api["alice"].get(f"{ROUTERS}{router['id']}/").json()["routes"] == []


@pytest.fixture
def alice_network(api, nb, run_tasks):
    with run_tasks():
        network = api["alice"].post(NETS, {"name": "web"}, format="json")
    assert network.status_code == 201, network.content
    return network.json()


@pytest.mark.parametrize(
    "mac",
    [
        "zz:zz",
        "fa:16:3e:00:00:zz",
        "01:00:5e:00:00:01",  # multicast
        "ff:ff:ff:ff:ff:ff",  # broadcast
        "00:00:00:00:00:00",
        "fa-16-3e-00-00-01",
    ],
)
def test_port_mac_must_be_unicast_and_not_zero(api, alice_network, nb, mac):
    response = api["alice"].post(PORTS, {"network": alice_network["id"], "mac_address": mac}, format="json")
    assert response.status_code == 400 and "mac_address" in response.json(), response.content
    assert nb.rows("Logical_Switch_Port") == []


def test_port_mac_unicast_is_accepted_and_patching_a_bad_one_is_refused(api, alice_network, nb, run_tasks):
    with run_tasks():
        response = api["alice"].post(
            PORTS, {"network": alice_network["id"], "mac_address": "FA:16:3E:00:00:01"}, format="json"
        )
    assert response.status_code == 201 and response.json()["mac_address"] == "fa:16:3e:00:00:01"
    patched = api["alice"].patch(
        f"{PORTS}{response.json()['id']}/", {"mac_address": "ff:ff:ff:ff:ff:ff"}, format="json"
    )
    assert patched.status_code == 400 and "mac_address" in patched.json()


@pytest.mark.parametrize("cidr", ["10.9.0.5/32", "fd00::1/128", "0.0.0.0/0", "::/0"])
def test_subnet_single_address_or_default_route_is_refused(api, alice_network, nb, cidr):
    response = api["alice"].post(SUBNETS, {"network": alice_network["id"], "cidr": cidr}, format="json")
    assert response.status_code == 400 and "cidr" in response.json(), response.content
    assert nb.rows("DHCP_Options") == []


def test_subnet_slash_31_is_realised_in_ovn(api, alice_network, nb, run_tasks):
    """/31 (RFC 3021) stays allowed; its hosts() is a list, which broke the DHCP spec as /32 did."""
    with run_tasks():
        response = api["alice"].post(SUBNETS, {"network": alice_network["id"], "cidr": "10.9.0.0/31"}, format="json")
    assert response.status_code == 201, response.content
    assert api["alice"].get(f"{SUBNETS}{response.json()['id']}/").json()["state"] == "active"
    assert len(nb.rows("DHCP_Options")) == 1


def test_ovn_dhcp_spec_of_a_slash_32_no_longer_raises(alice_network):
    """The /32 already stored before the refusal: its realisation must not crash either."""
    from network.backends.ovn_specs import dhcp_spec
    from network.models import Network, Subnet

    subnet = Subnet(network=Network.objects.get(pk=alice_network["id"]), cidr="10.9.0.5/32", ip_version=4)
    assert dhcp_spec(subnet) is not None


@pytest.mark.parametrize(
    "name", ["", "   ", "evil\u202etxt.exe", "a\u2066b", "tab\there", "nul\x00", "bell\x07", "line\nbreak"]
)
def test_names_printable_no_bidi_controls_not_empty(api, nb, name):
    for path in (NETS, ROUTERS, GROUPS):
        response = api["alice"].post(path, {"name": name}, format="json")
        assert response.status_code == 400 and "name" in response.json(), (path, response.content)


def test_names_with_unicode_letters_and_spaces_are_fine(api, nb, run_tasks):
    with run_tasks():
        response = api["alice"].post(NETS, {"name": "réseau de prod ☁"}, format="json")
    assert response.status_code == 201, response.content


def test_names_in_forms_follow_the_same_rule(project_a):
    from network.forms import NetworkForm, PortForm

    form = NetworkForm({"name": "evil\u202etxt"}, project=project_a)
    assert not form.is_valid() and "name" in form.errors
    port_form = PortForm({"name": "bad\x07"}, project=project_a)
    assert not port_form.is_valid() and "name" in port_form.errors
