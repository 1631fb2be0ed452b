"""One worker's isolation fences nobody (issue "Faults and load on the fleet", fault test 5).

The fleet's worker A runs on the portal machine (the root namespaces, host A's side); worker B
runs inside host B's network namespace. An nftables rule drops one worker's packets to host B's
libvirtd (10.99.0.2:16509), first worker A's (in the root namespace: the web loses host B too),
then worker B's (in host B's namespace, where only worker B opens TCP connections to it). HA's
isolation time is lowered to 10 s so a wrong verdict would come fast; each cut is held for the
isolation time and several heartbeat rounds beyond. Which worker runs beat's heartbeat is the
broker's choice (here it kept going to one worker for minutes), so the test reads the workers'
logs for who ran heartbeats during each cut and who was asked for a second probe. Host B must stay
up in the API, no failover Operation may start, and its HA instance must keep running on host B
(virsh from inside host B's namespace over libvirt's unix socket, which no rule touches), the same
domain as before (its id unchanged: not restarted). The rules are removed in a finally; the fleet
then settles as after every fault test (tests/fleet/checks.py)."""

import re
import socket
import subprocess
import time
import uuid
from pathlib import Path

from tests.fleet import checks
from tests.fleet.client import ROOT
from tests.fleet.test_faults import create

TABLE = f"nubes_fault_cut_{uuid.uuid4().hex[:6]}"  # the test's own nftables table, removed after
LIBVIRTD_B = ("10.99.0.2", 16509)
NETNS_B = "nubes-hostb"
ISOLATION_S = 10  # HA's isolation time during the test (a lone verdict would fence at once)
HEARTBEAT_S = 10  # NUBES_HA_HEARTBEAT_INTERVAL's default, which the fleet runs
CUT_S = ISOLATION_S + 4 * HEARTBEAT_S  # each cut: the isolation time and four heartbeat rounds more
POLL_S = 2
RECOVERY_S = 120  # after the cuts: host B healthy again for HA
HOSTB = ROOT / "lab" / "hostb.sh"
# The worker whose path is cut -> the namespace its rule goes in (None: the root namespace).
CUTS = (("worker-a", None), ("worker-b", NETNS_B))
HEARTBEAT_RUN = re.compile(r"Task scheduler\.tasks\.heartbeat\[[^]]+\] received")
PROBE_ASKED = re.compile(r"Task scheduler\.tasks\.probe_hosts\[[^]]+\] received")


def nft(netns, *args, check=True):
    cmd = ["nft", *args] if netns is None else ["ip", "netns", "exec", netns, "nft", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 or not check, f"{' '.join(cmd)}: {result.stderr}"
    return result.stdout


def cut(netns):
    """Drop the namespace's own packets to host B's libvirtd (a table of the test's, output hook)."""
    nft(netns, "add", "table", "inet", TABLE)
    nft(netns, "add", "chain", "inet", TABLE, "out", "{ type filter hook output priority 0 ; policy accept ; }")
    nft(
        netns,
        "add",
        "rule",
        "inet",
        TABLE,
        "out",
        "ip",
        "daddr",
        LIBVIRTD_B[0],
        "tcp",
        "dport",
        str(LIBVIRTD_B[1]),
        "drop",
    )


def uncut(netns):
    nft(netns, "delete", "table", "inet", TABLE, check=False)
    assert TABLE not in nft(netns, "list", "tables"), f"nftables table {TABLE} still there ({netns or 'root'})"


def reaches_libvirtd_b(netns):
    """Does a TCP connection from the namespace reach host B's libvirtd?"""
    if netns is None:
        try:
            socket.create_connection(LIBVIRTD_B, timeout=3).close()
        except OSError:
            return False
        return True
    probe = f"import socket; socket.create_connection({LIBVIRTD_B!r}, timeout=3).close()"
    return (
        subprocess.run(
            ["ip", "netns", "exec", netns, "python3", "-c", probe], capture_output=True, timeout=30
        ).returncode
        == 0
    )


def on_b(*args):
    """virsh on host B from inside its namespaces, over libvirt's unix socket (no rule touches it)."""
    result = subprocess.run(
        [str(HOSTB), "virsh", "-q", "-c", "qemu:///system", *args], capture_output=True, text=True, timeout=60
    )
    return result.stdout.strip()


class Logs:
    """What each fleet worker logged since a mark (its log file, read from outside)."""

    def __init__(self, fleet):
        self.paths = {name: Path(fleet["logs"]) / f"{name}.log" for name in ("worker-a", "worker-b")}
        self.mark()

    def mark(self):
        self.offsets = {name: path.stat().st_size for name, path in self.paths.items()}

    def since(self, name):
        with self.paths[name].open("rb") as f:
            f.seek(self.offsets[name])
            return f.read().decode(errors="replace")


def failovers(fleet_db):
    return fleet_db.execute("SELECT count(*) FROM portal_operation WHERE kind = 'host.failover'").fetchone()[0]


def test_a_worker_cut_off_from_host_b_does_not_fence_it(admin, fleet, hosts, tenant, fleet_db):
    project, quota_before = tenant
    host_a, host_b = hosts.values()
    cluster = host_b["cluster"]
    settings = admin.get(f"scheduler-settings/{cluster}/")
    assert settings["ha_enabled"], "HA is off on the fleet's cluster: nothing to test"
    made = admin.succeeded(admin.action("POST", "instances/", json=create(admin, project, host_b, "isolated")))
    instance = admin.get(f"instances/{made['target_id']}/")
    admin.call("POST", f"instances/{instance['id']}/set-ha/", expect=200, json={"ha_priority": 3})
    domain = instance["domain_name"]
    dom_id = on_b("domid", domain)
    assert dom_id.isdigit() and on_b("domstate", domain) == "running", (dom_id, on_b("domstate", domain))
    admin.call("PATCH", f"scheduler-settings/{cluster}/", expect=200, json={"ha_isolation_s": ISOLATION_S})
    before = failovers(fleet_db)
    logs = Logs(fleet)
    seen = {}  # cut worker -> (heartbeats it ran, heartbeats the other ran, probes asked of the other, HA events)
    try:
        for worker, netns in CUTS:
            other = next(w for w, _ in CUTS if w != worker)
            first_event = fleet_db.execute("SELECT coalesce(max(id), 0) FROM scheduler_haevent").fetchone()[0]
            logs.mark()
            cut(netns)
            try:
                assert not reaches_libvirtd_b(netns), f"the rule does not cut {worker}'s path to host B's libvirtd"
                started, states = time.monotonic(), set()
                while time.monotonic() - started < CUT_S:
                    states.add(admin.get(f"hosts/{host_b['id']}/")["state"])
                    assert failovers(fleet_db) == before, f"host B failed over while {worker} was cut off from it"
                    time.sleep(POLL_S)
            finally:
                uncut(netns)
            events = fleet_db.execute(
                "SELECT kind, detail FROM scheduler_haevent WHERE id > %s AND host_id = %s ORDER BY id",
                [first_event, host_b["id"]],
            ).fetchall()
            ran = len(HEARTBEAT_RUN.findall(logs.since(worker)))
            seen[worker] = (
                ran,
                len(HEARTBEAT_RUN.findall(logs.since(other))),
                len(PROBE_ASKED.findall(logs.since(other))),
                events,
            )
            print(
                f"\n{worker} cut from host B's libvirtd for {CUT_S} s (isolation {ISOLATION_S} s): host B {states}; "
                f"heartbeats run by {worker} {ran}, by {other} {seen[worker][1]}; probes asked of {other} {seen[worker][2]}"
            )
            for kind, detail in events:
                print(f"  HA event {kind}: {detail[:200]}")
            assert states == {"up"}, states
            assert not [k for k, _ in events if k in ("isolated", "fenced", "fence-failed", "restart")], events
            if ran:  # the cut worker probed host B during its cut: it missed it and asked the other
                assert any(k == "heartbeat-missed" for k, _ in events), f"{worker} ran {ran} heartbeats, none missed B"
                assert seen[worker][2] > 0, f"{worker} missed host B but did not ask {other} for its probe"
    finally:
        for _, netns in CUTS:
            uncut(netns)
        admin.call(
            "PATCH", f"scheduler-settings/{cluster}/", expect=200, json={"ha_isolation_s": settings["ha_isolation_s"]}
        )
    assert any(ran for ran, *_ in seen.values()), f"no cut worker ran a heartbeat during its cut: {seen}"
    # The same guest, never restarted: still running on host B under the same domain id, not on A.
    assert on_b("domstate", domain) == "running" and on_b("domid", domain) == dom_id
    assert domain not in checks.domains(host_a["uri"])
    after = admin.get(f"instances/{instance['id']}/")
    assert after["host"] == host_b["id"] and after["state"] == "active", after
    deadline = time.monotonic() + RECOVERY_S
    while (
        fleet_db.execute("SELECT ha_state FROM scheduler_hostpower WHERE host_id = %s", [host_b["id"]]).fetchone()[0]
        != "healthy"
    ):
        assert time.monotonic() < deadline, f"host B not healthy for HA {RECOVERY_S} s after the cuts"
        time.sleep(POLL_S)
    admin.call("POST", f"instances/{instance['id']}/set-ha/", expect=200, json={"ha_priority": 0})
    admin.succeeded(admin.action("DELETE", f"instances/{instance['id']}/"))
    checks.assert_settled(admin, fleet, hosts, project, [instance], quota_before)
