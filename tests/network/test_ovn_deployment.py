"""The OVN deployment registered in the portal: `make lab` saves it, `make run` then uses OVN
without environment variables, and NUBES_OVN_* variables win over it."""

import pytest
from django.test import Client

from network import backends, lab, services
from network import conf as net_settings
from network.models import Network, OvnDeployment
from portal.models import AuditEvent
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
VARIABLES = net_settings.OVN_VARIABLES
LAB = {
    "ovn": {"nb": "tcp:10.99.0.1:6641", "sb": "tcp:10.99.0.1:6642", "encap_type": "vxlan"},
    "hosts": [{"chassis": "hosta", "gateway": True}, {"chassis": "hostb", "gateway": False}],
}


@pytest.fixture
def no_ovn_env(monkeypatch):
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def test_without_a_registration_or_environment_networks_use_libvirt(no_ovn_env):
    assert net_settings.ovn_nb_endpoint() == ""
    assert backends.configured().name == "libvirt"


def test_a_registered_deployment_makes_ovn_the_backend_without_environment_variables(no_ovn_env, admin_user):
    lab.register_ovn(admin_user, LAB)
    assert net_settings.ovn_nb_endpoint() == "tcp:10.99.0.1:6641"
    assert net_settings.ovn_sb_endpoint() == "tcp:10.99.0.1:6642"
    assert net_settings.gateway_chassis() == ["hosta"]
    assert net_settings.overlay_type() == "vxlan"
    assert backends.configured().name == "ovn"
    assert AuditEvent.objects.filter(action="ovn_deployment.update").exists()


def test_the_environment_wins_over_the_registered_deployment(no_ovn_env, admin_user, monkeypatch):
    lab.register_ovn(admin_user, LAB)
    monkeypatch.setenv("NUBES_OVN_NB", "")
    monkeypatch.setenv("NUBES_OVN_GATEWAY_CHASSIS", "other")
    assert net_settings.ovn_nb_endpoint() == "" and backends.configured().name == "libvirt"
    assert net_settings.gateway_chassis() == ["other"]
    assert net_settings.ovn_sb_endpoint() == "tcp:10.99.0.1:6642"  # not overridden


def test_registering_twice_keeps_one_row(no_ovn_env, admin_user):
    lab.register_ovn(admin_user, LAB)
    lab.register_ovn(admin_user, {**LAB, "ovn": {**LAB["ovn"], "nb": "tcp:10.99.0.9:6641"}})
    assert OvnDeployment.objects.count() == 1
    assert OvnDeployment.current().nb_connection == "tcp:10.99.0.9:6641"


def test_a_network_is_realised_in_the_registered_northbound(nb, admin_user, alice, project_a, run_tasks, monkeypatch):
    monkeypatch.delenv("NUBES_OVN_NB")
    services.update_deployment(admin_user, nb_connection=nb.endpoint)
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="registered")
    assert Network.objects.get(pk=network.pk).backend == "ovn"
    assert nb.rows("Logical_Switch", name=network.switch_name)


def test_staff_read_and_change_it_through_the_api(no_ovn_env, admin_user):
    api = client_for(admin_user)
    assert api.get("/api/v1/ovn-deployment/").json()["effective"]["backend"] == "LibvirtBackend"
    response = api.patch(
        "/api/v1/ovn-deployment/", {"nb_connection": "tcp:127.0.0.1:6641", "gateway_chassis": "a, b"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["gateway_chassis"] == "a,b" and body["effective"]["nb_connection"] == "tcp:127.0.0.1:6641"
    assert body["effective"]["from_environment"] == []


@pytest.mark.parametrize(
    "field, value",
    [
        ("nb_connection", "10.0.0.1:6641"),
        ("sb_connection", "http://x"),
        ("gateway_chassis", "a,a"),
        ("encap_type", "gre"),
    ],
)
def test_a_bad_endpoint_is_a_400_and_nothing_is_saved(no_ovn_env, admin_user, field, value):
    response = client_for(admin_user).patch("/api/v1/ovn-deployment/", {field: value}, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not OvnDeployment.objects.exists()


def test_tenants_may_neither_read_nor_change_it(alice):
    api = client_for(alice)
    assert api.get("/api/v1/ovn-deployment/").status_code == 403
    assert api.patch("/api/v1/ovn-deployment/", {"nb_connection": "tcp:1.2.3.4:1"}, format="json").status_code == 403
    assert not OvnDeployment.objects.exists()


def test_the_staff_page_shows_and_saves_it(no_ovn_env, admin_user, alice):
    page = Client()
    page.force_login(admin_user)
    response = page.post(
        "/network/ovn/",
        {
            "nb_connection": "unix:/run/ovn/ovnnb_db.sock",
            "sb_connection": "",
            "gateway_chassis": "gw1",
            "encap_type": "geneve",
        },
    )
    assert response.status_code == 302
    assert "unix:/run/ovn/ovnnb_db.sock" in page.get("/network/ovn/").content.decode()
    assert page.post("/network/ovn/", {"nb_connection": "nope", "encap_type": "geneve"}).status_code == 400
    tenant = Client()
    tenant.force_login(alice)
    assert tenant.get("/network/ovn/").status_code == 302  # to the admin login
