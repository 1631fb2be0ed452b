"""Integration: the lab brought up by lab/up.sh answers like a two-host cloud."""

import json
import os
import re
import sys
import time
import uuid

import pytest

from .conftest import LAB_DIR, LAB_JSON, run

sys.path.insert(0, str(LAB_DIR / "guest"))
import boot_test  # noqa: E402

pytestmark = pytest.mark.integration


def virsh(uri, *args, timeout=120):
    return run("virsh", "-q", "-c", uri, *args, timeout=timeout).stdout


def test_both_libvirtds_answer_as_different_hosts(lab):
    host_a, host_b = lab["hosts"]
    uuids = set()
    for host in (host_a, host_b):
        assert "QEMU" in virsh(host["uri"], "version")
        caps = virsh(host["uri"], "capabilities")
        uuids.add(re.search(r"<uuid>([^<]+)</uuid>", caps).group(1))
    assert len(uuids) == 2, "libvirt refuses to migrate between hosts with the same UUID"
    assert virsh(host_b["uri"], "hostname").strip() == host_b["name"]


def test_the_shared_pool_is_active_on_both_hosts_with_the_same_path(lab):
    for pool in lab["pools"]:
        for host in lab["hosts"]:
            if host["name"] not in pool["hosts"]:
                continue
            assert "running" in virsh(host["uri"], "pool-info", pool["name"])
            if pool["path"] is None:  # an iSCSI pool: its volumes are LUNs, it has no directory
                assert pool["type"] == "iscsi-direct"
                continue
            assert f"<path>{pool['path']}</path>" in virsh(host["uri"], "pool-dumpxml", pool["name"])


def test_both_chassis_are_registered_in_the_ovn_southbound(lab):
    out = run(
        "ovn-sbctl",
        "--db=" + lab["ovn"]["sb"],
        "--timeout=10",
        "--format=json",
        "--columns=name,hostname",
        "list",
        "Chassis",
    ).stdout
    names = {row[0] for row in json.loads(out)["data"]}
    assert {h["chassis"] for h in lab["hosts"]} <= names
    encaps = run(
        "ovn-sbctl", "--db=" + lab["ovn"]["sb"], "--timeout=10", "--bare", "--columns=ip", "list", "Encap"
    ).stdout.split()
    assert {h["encap_ip"] for h in lab["hosts"]} <= set(encaps)


def test_the_lab_status_script_says_up(lab):
    out = run(LAB_DIR / "status.sh", timeout=180).stdout
    assert "lab: UP" in out


def test_a_guest_on_host_a_prints_heartbeats(lab):
    name = f"nubes-test-hb-{uuid.uuid4().hex[:6]}"
    uri = lab["hosts"][0]["uri"]
    try:
        log = boot_test.boot(lab, name, uri)
        first, secs = boot_test.wait_heartbeat(log, timeout=90)
        print(f"first heartbeat {first:d} after {secs:.1f}s")
        later, _ = boot_test.wait_heartbeat(log, after=first + 2, timeout=30)
        assert later > first
        assert "running" in virsh(uri, "domstate", name)
    finally:
        boot_test.remove(uri, name)
    assert name not in virsh(uri, "list", "--all", "--name")


def test_a_guest_gets_its_address_from_ovn_dhcp_and_answers_across_the_geneve_tunnel(lab):
    """Guest on host A on an OVN switch; a port in host B's namespace pings it and reads
    its hostname from TCP 8080 (traffic crosses the Geneve tunnel between the chassis)."""
    nb = ["ovn-nbctl", "--db=" + lab["ovn"]["nb"], "--timeout=20"]
    host_a, host_b = lab["hosts"]
    hostb = host_b["exec"]
    suffix = uuid.uuid4().hex[:6]
    ls, vm_port, ns_port, ovs_port = (
        "nubes-ls-" + suffix,
        str(uuid.uuid4()),
        "nubes-lsp-" + suffix,
        "nubes-vp" + suffix[:4],
    )
    name = "nubes-test-net-" + suffix
    dhcp = None
    try:
        run(*nb, "ls-add", ls)
        dhcp = run(
            *nb,
            "create",
            "DHCP_Options",
            "cidr=10.200.0.0/24",
            'options="server_id"="10.200.0.1" "server_mac"="02:00:00:00:00:01" '
            '"lease_time"="3600" "router"="10.200.0.1" "mtu"="1400"',
        ).stdout.strip()
        # libvirt wants the interfaceid (OVS iface-id) to be a UUID: name the VM's port with one.
        run(
            *nb,
            "lsp-add",
            ls,
            vm_port,
            "--",
            "lsp-set-addresses",
            vm_port,
            "52:54:00:00:00:11 10.200.0.11",
            "--",
            "lsp-set-dhcpv4-options",
            vm_port,
            dhcp,
        )
        run(*nb, "lsp-add", ls, ns_port, "--", "lsp-set-addresses", ns_port, "02:00:00:00:00:20 10.200.0.20")
        run(
            hostb,
            "ovs-vsctl",
            "--timeout=20",
            "add-port",
            "br-int",
            ovs_port,
            "--",
            "set",
            "interface",
            ovs_port,
            "type=internal",
            "external_ids:iface-id=" + ns_port,
        )
        netns = ["ip", "netns", "exec", host_b["netns"]]
        for _ in range(50):
            if run("ip", "-n", host_b["netns"], "link", "show", ovs_port, check=False).returncode == 0:
                break
            time.sleep(0.1)
        run("ip", "-n", host_b["netns"], "link", "set", ovs_port, "address", "02:00:00:00:00:20")
        run("ip", "-n", host_b["netns"], "addr", "add", "10.200.0.20/24", "dev", ovs_port)
        run("ip", "-n", host_b["netns"], "link", "set", ovs_port, "up")
        run(*netns, "ethtool", "-K", ovs_port, "tx", "off", check=False)

        log = boot_test.boot(lab, name, host_a["uri"], ovn_port=vm_port, mac="52:54:00:00:00:11")
        boot_test.wait_heartbeat(log, timeout=90)
        deadline = time.monotonic() + 60
        lease = None
        while time.monotonic() < deadline and not lease:
            lease = re.search(lab["guest"]["dhcp_regex"], open(log, errors="replace").read())
            time.sleep(0.5)
        assert lease, "no DHCP lease in the serial log"
        assert lease.group(3) == "10.200.0.11/24"
        ping = run(*netns, "busybox", "ping", "-c", "3", "-W", "2", "10.200.0.11", check=False)
        assert ping.returncode == 0, ping.stdout
        reply = run(*netns, "busybox", "nc", "-w", "5", "10.200.0.11", "8080", check=False).stdout
        assert reply.strip() == name
    finally:
        boot_test.remove(host_a["uri"], name)
        run(hostb, "ovs-vsctl", "--timeout=20", "--if-exists", "del-port", "br-int", ovs_port, check=False)
        run(*nb, "--if-exists", "ls-del", ls, check=False)
        if dhcp:
            run(*nb, "dhcp-options-del", dhcp, check=False)


@pytest.mark.skipif(
    os.environ.get("NUBES_LAB_CYCLE") == "0", reason="NUBES_LAB_CYCLE=0: not tearing the lab down and up again"
)
def test_down_leaves_nothing_of_the_lab_behind_and_up_brings_it_back(lab):
    run(LAB_DIR / "down.sh", timeout=300)
    try:
        left = run(LAB_DIR / "leftovers.sh", timeout=120, check=False)
        assert left.returncode == 0, left.stdout
        assert not LAB_JSON.exists()
    finally:
        run(LAB_DIR / "up.sh", timeout=600)
    assert "lab: UP" in run(LAB_DIR / "status.sh", timeout=180).stdout
