"""compute <-> network through compute.hooks: an instance launched with `networks` gets a port
per network in the create transaction, a NIC per port in its domain XML (an OVS virtualport
with the OVN logical port as interfaceid, or the libvirt network), and loses its ports once
its domain is gone. On simulated hosts, with a real OVN NB or the libvirt backend."""

import pytest
from lxml import etree

import hypervisor as hv
from compute.models import Cluster, Flavor, Image, Instance
from network import services
from network.backends.libvirt import libvirt_name
from network.models import Port
from portal.models import Operation
from tests.compute.conftest import add_host, fresh_hosts  # noqa: F401 (autouse: new simulated hosts per test)

pytestmark = pytest.mark.django_db


@pytest.fixture
def launchable(db):
    cluster = Cluster.objects.create(name="demo")
    add_host(cluster, "host-a")
    add_host(cluster, "host-b")  # HA admission control wants a spare host
    flavor = Flavor.objects.create(name="m1.small", vcpus=1, ram_mb=2048, disk_gb=20)
    image = Image.objects.create(name="cirros", volume="cirros.qcow2", virtual_size_gb=1, visibility="public")
    return flavor, image


def make_network(user, project, run_tasks, cidr="10.0.0.0/24", name="web"):
    with run_tasks():
        network, _ = services.create_network(user, project, name=name)
        services.create_subnet(user, network, cidr=cidr)
    return network


def launch(api, run_tasks, launchable, user="alice", **fields):
    flavor, image = launchable
    payload = {"name": "web-1", "flavor": flavor.pk, "image": image.pk, **fields}
    with run_tasks():
        response = api[user].post("/api/v1/instances/", payload, format="json")
    return response


def succeeded(response):
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded", op.error
    return op


def interfaces(instance):
    root = etree.fromstring(hv.domain_xml(instance.host.uri, str(instance.uuid)).encode())
    return root.findall("devices/interface")


def test_an_instance_on_an_ovn_network_gets_a_port_a_logical_port_and_an_ovs_nic(
    nb, api, alice, project_a, run_tasks, launchable
):
    network = make_network(alice, project_a, run_tasks)
    instance = Instance.objects.get(pk=succeeded(launch(api, run_tasks, launchable, networks=[network.pk])).target_id)
    [port] = Port.objects.filter(instance=instance)
    assert port.device_owner == "instance" and port.device_id == str(instance.uuid)
    [row] = nb.rows("Logical_Switch_Port", name=str(port.uuid))
    assert row["addresses"] == f"{port.mac_address} {port.ip_allocations.get().address}"
    [nic] = interfaces(instance)
    assert nic.get("type") == "bridge" and nic.find("source").get("bridge") == "br-int"
    assert nic.find("mac").get("address") == port.mac_address
    assert nic.find("virtualport").get("type") == "openvswitch"
    assert nic.find("virtualport/parameters").get("interfaceid") == str(port.uuid)
    assert nic.find("driver/host").get("csum") == "off" and nic.find("driver/guest").get("csum") == "off"

    with run_tasks():
        response = api["alice"].delete(f"/api/v1/instances/{instance.pk}/")
    succeeded(response)
    assert not Port.objects.filter(pk=port.pk).exists()
    assert nb.rows("Logical_Switch_Port", name=str(port.uuid)) == []


def test_two_networks_give_two_nics_in_the_order_asked(nb, api, alice, project_a, run_tasks, launchable):
    first = make_network(alice, project_a, run_tasks, "10.0.0.0/24", "first")
    second = make_network(alice, project_a, run_tasks, "10.1.0.0/24", "second")
    op = succeeded(launch(api, run_tasks, launchable, networks=[second.pk, first.pk]))
    instance = Instance.objects.get(pk=op.target_id)
    ports = list(Port.objects.filter(instance=instance).order_by("id"))
    assert [p.network_id for p in ports] == [second.pk, first.pk]
    assert [n.find("virtualport/parameters").get("interfaceid") for n in interfaces(instance)] == [
        str(p.uuid) for p in ports
    ]


def test_another_tenants_network_is_refused_and_nothing_is_made(nb, api, charlie, project_b, run_tasks, launchable):
    theirs = make_network(charlie, project_b, run_tasks)
    switch_ports = nb.rows("Logical_Switch_Port")
    response = launch(api, run_tasks, launchable, networks=[theirs.pk])
    assert response.status_code == 400 and "networks" in response.json()
    assert not Instance.objects.exists() and not Port.objects.exists()
    assert nb.rows("Logical_Switch_Port") == switch_ports


def test_without_networks_the_host_default_network_is_kept(api, run_tasks, launchable, monkeypatch):
    monkeypatch.setenv("NUBES_OVN_NB", "")
    instance = Instance.objects.get(pk=succeeded(launch(api, run_tasks, launchable)).target_id)
    assert not Port.objects.exists()
    assert [nic.get("type") for nic in interfaces(instance)] == (["network"] if instance.host.default_network else [])


def test_on_the_libvirt_backend_the_nic_joins_the_libvirt_network(
    api, alice, project_a, run_tasks, launchable, monkeypatch
):
    monkeypatch.setenv("NUBES_OVN_NB", "")
    monkeypatch.delenv("NUBES_NETWORK_BACKEND", raising=False)
    network = make_network(alice, project_a, run_tasks)
    assert network.backend == "libvirt"
    instance = Instance.objects.get(pk=succeeded(launch(api, run_tasks, launchable, networks=[network.pk])).target_id)
    [port] = Port.objects.filter(instance=instance)
    [nic] = interfaces(instance)
    assert nic.get("type") == "network" and nic.find("source").get("network") == libvirt_name(network)
    assert nic.find("mac").get("address") == port.mac_address
    with run_tasks():
        response = api["alice"].delete(f"/api/v1/instances/{instance.pk}/")
    succeeded(response)
    assert not Port.objects.exists()


def test_the_launch_form_offers_the_projects_networks_and_attaches_them(
    client, alice, project_a, charlie, project_b, run_tasks, launchable, monkeypatch
):
    monkeypatch.setenv("NUBES_OVN_NB", "")
    ours = make_network(alice, project_a, run_tasks, name="ours")
    theirs = make_network(charlie, project_b, run_tasks, name="theirs")
    flavor, image = launchable
    client.force_login(alice)
    session = client.session
    session["project_id"] = project_a.pk
    session.save()
    page = client.get("/compute/instances/launch/")
    assert page.status_code == 200
    assert f'value="{ours.pk}"' in page.text and "theirs" not in page.text
    with run_tasks():
        response = client.post(
            "/compute/instances/launch/",
            {"name": "form-1", "flavor": flavor.pk, "image": image.pk, "networks": [ours.pk]},
        )
    assert response.status_code == 302, response.text
    assert Port.objects.get(instance__name="form-1").network_id == ours.pk
    refused = client.post(
        "/compute/instances/launch/",
        {"name": "form-2", "flavor": flavor.pk, "image": image.pk, "networks": [theirs.pk]},
    )
    assert refused.status_code == 400 and not Instance.objects.filter(name="form-2").exists()
