"""The embedded default: without OVN, networks are libvirt networks on the simulated hosts,
and what needs OVN answers with a clear error."""

import pytest

from hypervisor import networks as hv_networks
from network import services
from network.backends.libvirt import libvirt_name, network_spec
from portal.errors import ActionError

URI = "test:///default"


@pytest.fixture
def host(db, monkeypatch):
    from compute.models import Cluster, Host

    monkeypatch.setenv("NUBES_OVN_NB", "")
    monkeypatch.delenv("NUBES_NETWORK_BACKEND", raising=False)
    return Host.objects.create(name="sim1", uri=URI, cluster=Cluster.objects.create(name="c1"), state="up")


def test_a_network_and_port_become_a_libvirt_network_with_a_dhcp_host(host, alice, project_a, run_tasks):
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="lan")
        services.create_subnet(alice, network, cidr="10.8.0.0/24", gateway_ip="10.8.0.1")
    assert network.backend == "libvirt"
    assert libvirt_name(network) in hv_networks.network_names(URI)
    with run_tasks():
        port, _ = services.create_port(alice, project_a, network)
    hosts = {(h.mac, h.ip) for h in network_spec(network).hosts}
    assert (port.mac_address, port.ip_allocations.get().address) in hosts
    assert services.nic_spec(port) == {"kind": "network", "network": libvirt_name(network), "mac": port.mac_address}
    with run_tasks():
        services.delete_port(alice, port)
    with run_tasks():
        services.delete_network(alice, network)
    assert libvirt_name(network) not in hv_networks.network_names(URI)


@pytest.mark.parametrize(
    "verb, args",
    [
        ("create_router", {"name": "r"}),
        ("create_security_group", {"name": "g"}),
    ],
)
def test_what_needs_ovn_is_refused_clearly(host, alice, project_a, verb, args):
    with pytest.raises(ActionError, match="libvirt"):
        getattr(services, verb)(alice, project_a, **args)


def test_the_demo_gives_each_tenant_an_overlapping_private_network(host, alice, charlie, run_tasks):
    import io

    from network import demo
    from network.models import Subnet

    with run_tasks():
        demo.seed(io.StringIO())
    assert sorted(Subnet.objects.values_list("project__name", "cidr")) == [
        ("acme", demo.DEMO_CIDR),
        ("globex", demo.DEMO_CIDR),
    ]
