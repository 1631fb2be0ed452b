"""A guest with an OVN port live-migrates A -> B on the lab while a namespace on the same logical
switch (plugged into host A's br-int, tests/integration/netns.py) pings it every 0.2 s: a few
packets at most are lost, the port's Southbound binding moves to chassis nubes-hostb, and the
guest still answers TCP 8080 - now across the Geneve tunnel. Through the API, as a tenant and a
cloud admin; one guest of ours runs at a time."""

import random
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from compute.models import Migration
from network import segments
from network.models import Network, Port, SecurityGroup, Subnet
from tests.conftest import client_for
from tests.integration import netns
from tests.integration.conftest import booted
from tests.integration.test_migration_lab import HeartbeatWatch, assert_moved, migrate
from tests.integration.test_network_lab import chassis_of

pytestmark = pytest.mark.django_db(transaction=True)
TUNNEL_KEY_BASE = (100_000, 16_000_000)  # the lab's NB is shared with other test sessions
CIDR = "10.78.1.0/24"
GATEWAY = "10.78.1.1"
PREFIX = 24
GUEST_PORT = 8080
LEASE_TIMEOUT_S = 150
REALISE_TIMEOUT_S = 45
PING_INTERVAL_S = 0.2
PINGS_BEFORE_S = 3  # pings that must all come back before the move starts
PINGS_AFTER_S = 5  # how long the ping runs on once the migration has succeeded
# network holds the port on A while the guest moves (requested-chassis A) and lets B claim it once
# the move ends: the echoes sent between the switch and B's flows are lost (11 at load 24). The
# bound leaves room for a loaded machine.
MAX_OUTAGE_S = 3.0
MAX_LOST_PINGS = int(MAX_OUTAGE_S / PING_INTERVAL_S)
MOVE_BANDWIDTH_MIB_S = 25
MAX_HEARTBEAT_GAP_S = 3.0  # 1.1-1.2 s quiet; 2.3 s seen at load 16
SEQ = re.compile(r"seq=(\d+)")
REPO = Path(__file__).resolve().parents[2]
HOSTB = str(REPO / "lab" / "hostb.sh")


class Pinger:
    """busybox ping from a namespace in the background, its output in a file (no pipe held)."""

    def __init__(self, namespace, address, log):
        self.log = Path(log)
        self.out = self.log.open("w")
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", namespace, "busybox", "ping", "-i", str(PING_INTERVAL_S), address],
            stdin=subprocess.DEVNULL,
            stdout=self.out,
            stderr=subprocess.STDOUT,
        )

    def answered(self):
        self.out.flush()
        return sorted({int(n) for n in SEQ.findall(self.log.read_text())})

    def stop(self):
        netns.stop(self.process)
        seqs = self.answered()
        self.out.close()
        return seqs


FLOW_STATS = re.compile(r"(duration|n_packets|n_bytes|idle_age|hard_age)=[^,\s]*,?\s*")


def flows(*prefix):
    """{flow without its counters: n_packets} of br-int on host A (no prefix) or B (hostb.sh)."""
    out = netns.run(*prefix, "ovs-ofctl", "dump-flows", "br-int", check=False).stdout
    found = {}
    for line in out.splitlines():
        packets = re.search(r"n_packets=(\d+)", line)
        if packets:
            found[FLOW_STATS.sub("", line).strip()] = int(packets.group(1))
    return found


def monitor(domain, command):
    """An HMP command to the guest's QEMU on host B (read-only queries)."""
    result = netns.run(HOSTB, "virsh", "qemu-monitor-command", "--hmp", domain, command, check=False)
    return f"({command})\n{result.stdout}{result.stderr}"


def virtio_state(domain):
    """What B's QEMU says of the guest's virtio-net queues and interrupts (QEMU >= 7.2 HMP)."""
    listing = monitor(domain, "info virtio")
    found = [listing]
    for path in re.findall(r"(/machine/\S+virtio-backend) \[virtio-net\]", listing):
        found.append(monitor(domain, f"info virtio-status {path}"))
        found += [monitor(domain, f"info virtio-queue-status {path} {queue}") for queue in (0, 1)]
    found.append(monitor(domain, "info irq"))
    return "\n".join(found)


def where_echoes_die(lab, logical_port, address, probe, domain=None):
    """What to read when the guest stops answering after the move: the port's Southbound
    binding, what crosses the guest's tap on host B and which OpenFlow flows on each host
    count packets while 3 echoes are sent, and ovn-controller's log lines about the port."""
    sb = ["ovn-sbctl", f"--db={lab['ovn']['sb']}", "--timeout=20"]
    found = [netns.run(*sb, "find", "Port_Binding", f"logical_port={logical_port}", check=False).stdout]
    tap = netns.run(
        HOSTB,
        "ovs-vsctl",
        "--bare",
        "--columns=name",
        "find",
        "Interface",
        f"external_ids:iface-id={logical_port}",
        check=False,
    ).stdout.strip()
    found.append(f"tap on B: {tap!r}")
    before = {"A": flows(), "B": flows(HOSTB)}
    dump = subprocess.Popen(
        [HOSTB, "timeout", "4", "tcpdump", "-n", "-l", "-i", tap or "any", "icmp or arp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(0.5)
    netns.ping(address, probe.netns, count=3)
    found.append("tcpdump on B:\n" + dump.communicate(timeout=10)[0])
    for host, prefix in (("A", ()), ("B", (HOSTB,))):
        hit = [f"+{n - before[host].get(f, 0)} {f}" for f, n in flows(*prefix).items() if n > before[host].get(f, 0)]
        found.append(f"flows hit on {host}:\n" + "\n".join(hit))
    if domain:
        found.append(virtio_state(domain))
        for state in ("down", "up"):
            found.append(netns.run(HOSTB, "virsh", "domif-setlink", domain, tap, state, check=False).stdout)
        found.append(f"after the link flap the guest answers: {netns.ping(address, probe.netns, count=3)}")
        found.append(virtio_state(domain))
        for command in ("suspend", "resume"):
            found.append(netns.run(HOSTB, "virsh", command, domain, check=False).stdout)
        found.append(f"after a pause and resume the guest answers: {netns.ping(address, probe.netns, count=3)}")
        found.append(virtio_state(domain))
    logs = Path(lab["state_dir"]) / "logs"
    for name in ("ovn-controller-a.log", "ovn-controller-b.log"):
        path = logs / name
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        found.append(f"{name}:\n" + "\n".join([line for line in lines if logical_port in line][-15:]))
    return "\n".join(found)


# The one failure this test tolerates, and only without KVM: QEMU 7.2's userspace virtio-net
# (TCG; vhost needs KVM) stops taking packets from the tap after about 1 move in 10 to 15 (more
# under load), its receive ring full of the guest's free buffers. A link flap makes it deliver
# the queued echoes, but the guest still does not answer. Not a Nubes state: the port is bound
# on B and the echoes reach the guest's tap (the report shows both).
TCG_RX_STALL = (
    "known QEMU 7.2 limitation under TCG (no KVM on this machine): the guest's virtio-net receive ring "
    "stalled after the move with free buffers (last_avail_idx < shadow_avail_idx) while the echoes "
    "reach its tap on host B; README 'Live migration', known gaps"
)
RX_QUEUE = re.compile(r"queue_index:\s+0\n(?:.*\n)*?\s+last_avail_idx:\s+(\d+)\n\s+shadow_avail_idx:\s+(\d+)")


def rx_ring_stalled(report):
    """Before any remedy (the first queue report): QEMU has not taken buffers the guest offered,
    and the echoes were seen on the tap."""
    first = RX_QUEUE.search(report)
    return bool(first) and int(first[1]) < int(first[2]) and "ICMP echo request" in report


def lost_between(seqs):
    """Echoes missing between the first and the last answered one, and the longest such run."""
    missing = sorted(set(range(seqs[0], seqs[-1] + 1)) - set(seqs)) if seqs else []
    longest = run = 0
    for previous, current in zip([None, *missing], missing, strict=False):
        run = run + 1 if previous is not None and current == previous + 1 else 1
        longest = max(longest, run)
    return missing, longest


@pytest.fixture
def tenant_net(lab_cloud, alice, project_a, monkeypatch):
    monkeypatch.setattr(segments, "TUNNEL_KEY_MIN", random.randrange(*TUNNEL_KEY_BASE))
    api = client_for(alice)
    made = {"api": api}
    try:
        response = api.post(
            "/api/v1/networks/", {"project": project_a.pk, "name": f"itmn-{uuid.uuid4().hex[:6]}"}, format="json"
        )
        assert response.status_code == 201, response.content
        made["network"] = response.json()
        response = api.post(
            "/api/v1/subnets/", {"network": made["network"]["id"], "cidr": CIDR, "gateway_ip": GATEWAY}, format="json"
        )
        assert response.status_code == 201, response.content
        yield made
    finally:
        owned = {
            str(u)
            for model in (Network, Subnet, Port, SecurityGroup)
            for u in model.objects.filter(project=project_a).values_list("uuid", flat=True)
        }
        if "network" in made:
            for subnet in Subnet.objects.filter(network_id=made["network"]["id"]):
                api.delete(f"/api/v1/subnets/{subnet.pk}/")
            api.delete(f"/api/v1/networks/{made['network']['id']}/")
        # The default security group's port group goes with its project, which the flush
        # does not delete through the service: remove what is left of ours from the NB.
        netns.nb_destroy(lab_cloud["ovn"].nb_connection, netns.nb_rows_of(lab_cloud["ovn"].nb_connection, owned))


@pytest.fixture
def probe(tenant_net, project_a):
    response = tenant_net["api"].post(
        "/api/v1/ports/",
        {"project": project_a.pk, "network": tenant_net["network"]["id"], "name": "probe"},
        format="json",
    )
    assert response.status_code == 201, response.content
    port = response.json()
    probe = netns.Probe("mig", port, PREFIX).up()
    try:
        yield probe
    finally:
        probe.down()
        tenant_net["api"].delete(f"/api/v1/ports/{port['id']}/")


@pytest.fixture
def net_guest(admin_api, lab_cloud, host_a, host_b, project_a, tenant_net):
    payload = {
        "project": project_a.pk,
        "name": f"it-mignet-{uuid.uuid4().hex[:6]}",
        "flavor": lab_cloud["flavor"].pk,
        "image": lab_cloud["image"].pk,
        "host": host_a.pk,
        "networks": [tenant_net["network"]["id"]],
    }
    with booted(admin_api, payload, (host_a, host_b)) as instance:
        yield instance


def test_a_guest_with_an_ovn_port_moves_to_b_answering_pings_and_tcp(
    admin_user, lab, net_guest, probe, host_a, host_b, tmp_path
):
    port = Port.objects.get(instance=net_guest)
    address = port.ip_allocations.get().address
    hostname = f"nubes-{str(net_guest.uuid)[:8]}"
    assert netns.wait_for_lease(net_guest.serial_log_path, LEASE_TIMEOUT_S) == f"{address}/{PREFIX}"
    netns.eventually(lambda: chassis_of(lab, port.interface_id) == "nubes-hosta", REALISE_TIMEOUT_S, "bound on A")
    netns.eventually(lambda: probe.ping(address), REALISE_TIMEOUT_S, "the probe reaches the guest")
    assert probe.tcp(address, GUEST_PORT) == hostname

    pinger = Pinger(probe.netns, address, tmp_path / "ping.log")
    watch = HeartbeatWatch(net_guest.serial_log_path)
    watch.start()
    try:
        time.sleep(PINGS_BEFORE_S)
        before = pinger.answered()
        op = migrate(admin_user, net_guest, host_b, bandwidth_mib_s=MOVE_BANDWIDTH_MIB_S)
        moved_at = pinger.answered()[-1]
        time.sleep(PINGS_AFTER_S)
    finally:
        seqs = pinger.stop()
        watch.stop()
    assert_moved(op, net_guest, host_a, host_b)
    migration = Migration.objects.get(operation=op)
    missing, longest = lost_between(seqs)
    gap, _, _ = watch.max_gap()
    print(
        f"\nping every {PING_INTERVAL_S} s: {len(seqs)} answered, lost {len(missing)} {missing} (longest run "
        f"{longest}); migration {migration.total_ms} ms, downtime {migration.downtime_ms} ms; heartbeat gap "
        f"{gap:.2f} s; port bound to {chassis_of(lab, port.interface_id)}"
    )
    assert len(before) >= PINGS_BEFORE_S / PING_INTERVAL_S - 2, f"pings before the move: {before}"
    if seqs[-1] <= moved_at:
        report = where_echoes_die(lab, port.interface_id, address, probe, f"nubes-{net_guest.uuid}")
        if not lab["kvm"]["usable"] and rx_ring_stalled(report):
            pytest.xfail(f"{TCG_RX_STALL}\n{report}")
        pytest.fail(f"no ping answered after the move\n{report}")
    assert len(missing) <= MAX_LOST_PINGS, f"lost {missing}"
    assert gap <= MAX_HEARTBEAT_GAP_S
    netns.eventually(lambda: chassis_of(lab, port.interface_id) == "nubes-hostb", REALISE_TIMEOUT_S, "bound on B")
    options = netns.run(
        "ovn-nbctl", f"--db={lab['ovn']['nb']}", "get", "Logical_Switch_Port", port.interface_id, "options"
    ).stdout
    assert "requested-chassis" not in options and "activation-strategy" not in options, options
    assert probe.tcp(address, GUEST_PORT) == hostname
