"""A VLAN provider network on the lab: OVN's localnet port tags the frames of host A's ports
with the network's VLAN id on br-ex, so a host on an access port of that VLAN answers and a host
on another VLAN does not. No guests: a
namespace plugged into br-int stands in for a VM (tests/integration/netns.py)."""

import random
import uuid

import pytest

from tests.conftest import make_user
from tests.integration import netns
from tests.integration.conftest import register_lab
from tests.integration.test_network_lab import Cloud, _cleanup, module_db  # noqa: F401 (module_db is a fixture)

pytestmark = pytest.mark.integration

VLAN_IDS = (2000, 3900)  # the provider link is shared with other test sessions
CIDR_BASE = "172.30"
REALISE_TIMEOUT_S = 45
BLOCKED_ATTEMPTS = 3


@pytest.fixture(scope="module")
def cloud(lab, module_db):  # noqa: F811
    sfx = uuid.uuid4().hex[:6]
    with pytest.MonkeyPatch.context() as mp:
        try:
            c = Cloud(lab, register_lab(make_user(f"itvlan{sfx}", staff=True), lab, mp), sfx)
            yield c
        finally:
            _cleanup(locals().get("c"))


@pytest.fixture
def upstream(cloud):
    """Hosts on the physical network: a namespace per VLAN on an access port of br-ex (OVS
    strips and adds the tag; the kernel here has no 8021q). Removed by name afterwards."""
    made = []

    def add(vlan_id, address):
        short = uuid.uuid4().hex[:6]
        ns, outer, inner = f"nubes-it-vlan-{short}", f"nit{short}o", f"nit{short}i"
        made.append((ns, outer))
        netns.run("ip", "netns", "add", ns)
        netns.run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        netns.run("ip", "link", "set", inner, "netns", ns)
        netns.run("ip", "-n", ns, "addr", "add", address, "dev", inner)
        netns.run("ip", "-n", ns, "link", "set", inner, "up")
        netns.run("ip", "link", "set", outer, "up")
        netns.run("ethtool", "-K", outer, "tx", "off")  # userspace datapath: checksums by the sender
        netns.run("ethtool", "-K", inner, "tx", "off", netns=ns)
        netns.run("ovs-vsctl", "--timeout=20", "add-port", cloud.lab["provider"]["bridge"], outer, f"tag={vlan_id}")
        return ns

    yield add
    for ns, outer in made:
        netns.run("ovs-vsctl", "--timeout=20", "--if-exists", "del-port", outer, check=False)
        netns.run("ip", "link", "del", outer, check=False)
        netns.run("ip", "netns", "del", ns, check=False)


def vlan_network(cloud, vlan_id, cidr):
    net = cloud.post(
        "admin",
        "networks/",
        {
            "project": cloud.projects["ext"].pk,
            "name": f"vlan{vlan_id}-{cloud.sfx}",
            "segment_type": "vlan",
            "vlan_id": vlan_id,
            "physical_network": cloud.lab["provider"]["physnet"],
        },
    )
    base = cidr.rsplit(".", 1)[0]  # ports take addresses from .10 up; the upstream hosts are above
    cloud.post(
        "admin",
        "subnets/",
        {
            "network": net["id"],
            "cidr": cidr,
            "gateway_ip": None,
            "enable_dhcp": False,
            "allocation_pools": [[f"{base}.10", f"{base}.99"]],
        },
    )
    return net


def test_a_vlan_provider_network_reaches_only_its_vlan_on_the_physical_network(cloud, upstream):
    tagged, other = random.sample(range(*VLAN_IDS), 2)
    cidr = f"{CIDR_BASE}.{random.randrange(1, 250)}.0/24"
    outside = cidr.replace(".0/24", ".201")
    upstream(tagged, f"{outside}/24")
    probe = cloud.probe("ext", "vlan", vlan_network(cloud, tagged, cidr))
    netns.eventually(
        lambda: probe.ping(outside), REALISE_TIMEOUT_S, f"ping {outside} on VLAN {tagged} of the provider network"
    )

    # A second network on another VLAN id with the same CIDR: its own upstream host (.202)
    # answers it, the host on the first VLAN (.201) does not.
    stranger = cloud.probe("ext", "vlan2", vlan_network(cloud, other, cidr))
    own = cidr.replace(".0/24", ".202")
    upstream(other, f"{own}/24")
    netns.eventually(lambda: stranger.ping(own), REALISE_TIMEOUT_S, f"ping {own} on VLAN {other}")
    assert not any(stranger.ping(outside) for _ in range(BLOCKED_ATTEMPTS)), (
        f"VLAN {other} reached an address that exists only on VLAN {tagged}"
    )
