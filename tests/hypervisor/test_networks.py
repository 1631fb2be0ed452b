"""libvirt networks on the test driver: define, update DHCP hosts, remove; XML built with lxml."""

import uuid

import pytest

from hypervisor import networks
from hypervisor.errors import InvalidConfig

URI = "test:///default"


def spec(name="nubes-t1", hosts=()):
    return networks.NetworkSpec(
        name,
        str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
        "nbtest1",
        1500,
        "10.9.0.1",
        24,
        ("10.9.0.2", "10.9.0.254"),
        hosts,
    )


def test_the_xml_is_an_isolated_network_with_dhcp_hosts():
    xml = networks.build_network_xml(spec(hosts=(networks.DhcpHost("02:00:00:00:00:01", "10.9.0.5"),)))
    assert "<forward" not in xml
    assert '<host mac="02:00:00:00:00:01" ip="10.9.0.5"/>' in xml


def test_a_too_long_bridge_name_is_refused():
    with pytest.raises(InvalidConfig):
        networks.build_network_xml(networks.NetworkSpec("n", str(uuid.uuid4()), "a-very-long-bridge-name"))


def test_a_network_is_defined_updated_and_removed():
    assert networks.network_ensure(URI, spec()) is True
    assert "nubes-t1" in networks.network_names(URI)
    assert networks.network_ensure(URI, spec()) is False
    assert networks.network_ensure(URI, spec(hosts=(networks.DhcpHost("02:00:00:00:00:02", "10.9.0.6"),))) is True
    assert networks.network_remove(URI, "nubes-t1") is True
    assert "nubes-t1" not in networks.network_names(URI)
    assert networks.network_remove(URI, "nubes-t1") is False
