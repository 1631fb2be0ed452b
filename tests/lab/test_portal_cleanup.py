"""lab/clean-portal.sh (the part of lab/down.sh that removes what the portal's libvirt network
backend made on the lab hosts) on the live lab: networks made on both hosts through the gateway
call the backend makes (names nubes-<uuid>, bridges nb<12 hex>, an address and DHCP, so libvirt
starts dnsmasq and adds iptables rules), reported by lab/leftovers.sh, then removed by the script
with every bridge, dnsmasq and rule, while a network not shaped like the portal's stays."""

import sys
import uuid
from pathlib import Path

import pytest

from .conftest import LAB_DIR, ROOT, run

sys.path.insert(0, str(ROOT))
from hypervisor import networks as hv_networks  # noqa: E402 (plain Python, no Django)

pytestmark = pytest.mark.integration

NETNS_B = "nubes-hostb"  # lab/lib.sh's NETNS_B: host B's bridges and rules live there


def inside(host, *cmd):
    """A command in the host's network namespace (host A's is this machine's)."""
    return ([] if host["netns"] is None else ["ip", "netns", "exec", host["netns"]]) + list(cmd)


def dnsmasq_running(name):
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if f"dnsmasq/{name}.conf".encode() in cmdline.read_bytes():
                return True
        except (FileNotFoundError, ProcessLookupError):
            continue
    return False


def present(host, spec):
    """What of the portal network `spec` exists on `host`: libvirt network, bridge, dnsmasq, rules."""
    found = []
    if spec.name in run("virsh", "-q", "-c", host["uri"], "net-list", "--all", "--name").stdout.split():
        found.append("network")
    if run(*inside(host, "ip", "link", "show", spec.bridge), check=False).returncode == 0:
        found.append("bridge")
    if dnsmasq_running(spec.name):
        found.append("dnsmasq")
    if f" {spec.bridge} " in run(*inside(host, "iptables-save")).stdout:
        found.append("iptables")
    return found


@pytest.fixture
def portal_networks(lab):
    """One portal-shaped network per lab host, and one other network on host A; removed after
    (through libvirt) whatever the test left."""
    made = []
    for index, host in enumerate(lab["hosts"]):
        net = uuid.uuid4()
        spec = hv_networks.NetworkSpec(
            f"nubes-{net}",
            str(net),
            f"nb{net.hex[:12]}",
            address=f"10.251.{index}.1",
            prefix=24,
            dhcp_range=(f"10.251.{index}.10", f"10.251.{index}.20"),
        )
        made.append((host, spec))
    other = uuid.uuid4()
    keep = hv_networks.NetworkSpec(f"keep-{other.hex[:8]}", str(other), f"kp{other.hex[:8]}")
    made.append((lab["hosts"][0], keep))
    try:
        for host, spec in made:
            hv_networks.network_ensure(host["uri"], spec)
        yield made[:-1], made[-1]
    finally:
        for host, spec in made:
            hv_networks.network_remove(host["uri"], spec.name)


def test_leftovers_reports_portal_networks_and_clean_portal_removes_only_them(portal_networks):
    portal, (keep_host, keep) = portal_networks
    for host, spec in portal:
        assert present(host, spec) == ["network", "bridge", "dnsmasq", "iptables"], f"{spec.name} on {host['name']}"
    before = run(LAB_DIR / "leftovers.sh", timeout=180, check=False).stdout
    for host, spec in portal:
        where = "" if host["netns"] is None else f" in netns {host['netns']}"
        assert f"libvirt network {spec.name} on {host['uri']}" in before, before
        assert f"bridge {spec.bridge}{where} (a portal network's)" in before, before
        assert f"rule(s){where} naming a portal network's bridge" in before, before
        assert f"dnsmasq/{spec.name}.conf" in before, before

    cleaned = run(LAB_DIR / "clean-portal.sh", timeout=180)

    for host, spec in portal:
        assert present(host, spec) == [], f"{spec.name} on {host['name']}: {cleaned.stdout}"
        assert f"removed libvirt network {spec.name} " in cleaned.stdout
    after = run(LAB_DIR / "leftovers.sh", timeout=180, check=False).stdout
    assert "portal network" not in after and "dnsmasq/nubes-" not in after, after
    assert keep.name in run("virsh", "-q", "-c", keep_host["uri"], "net-list", "--name").stdout.split()
    assert run("ip", "link", "show", keep.bridge, check=False).returncode == 0, "a network not the portal's went"
