"""One worker's isolation fences nobody (issue "Faults and load on the fleet", fault test 5).

The fleet's worker A runs on the portal machine (the root namespaces, host A's side); worker B
runs inside host B's network namespace. An nftables rule in the root namespace drops every
packet to host B's libvirtd (10.99.0.2:16509): worker A (and the web) can no longer reach host
B's libvirt, worker B still can. HA's isolation time is lowered to its minimum's double so a
wrong verdict would come fast; the cut is held for the isolation time and several heartbeat
rounds beyond. Host B must stay up in the API, no failover Operation may start, and its HA
instance must keep running on host B (virsh from inside host B's namespace, which the rule does
not touch), the same domain as before (its id unchanged: not restarted). The rule is removed in a
finally; the fleet then settles as after every fault test (tests/fleet/checks.py)."""

import subprocess
import time
import uuid

from tests.fleet import checks
from tests.fleet.client import ROOT
from tests.fleet.test_faults import create

TABLE = f"nubes_fault_cut_{uuid.uuid4().hex[:6]}"  # the test's own nftables table, removed after
LIBVIRTD_B = ("10.99.0.2", 16509)
ISOLATION_S = 10  # HA's isolation time during the test (a fence would come at the second miss)
HEARTBEAT_S = 10  # NUBES_HA_HEARTBEAT_INTERVAL's default, which the fleet runs
CUT_S = ISOLATION_S + 6 * HEARTBEAT_S  # the isolation time and six heartbeat rounds more
POLL_S = 2
RECOVERY_S = 120  # after the cut: a heartbeat from worker A reaching host B again
HOSTB = ROOT / "lab" / "hostb.sh"


def nft(*args):
    result = subprocess.run(["nft", *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"nft {' '.join(args)}: {result.stderr}"
    return result.stdout


def cut():
    """Drop the root namespace's packets to host B's libvirtd (its own table, output hook)."""
    nft("add", "table", "inet", TABLE)
    nft("add", "chain", "inet", TABLE, "out", "{ type filter hook output priority 0 ; policy accept ; }")
    nft("add", "rule", "inet", TABLE, "out", "ip", "daddr", LIBVIRTD_B[0], "tcp", "dport", str(LIBVIRTD_B[1]), "drop")


def uncut():
    subprocess.run(["nft", "delete", "table", "inet", TABLE], capture_output=True, timeout=30)
    assert TABLE not in nft("list", "tables"), f"nftables table {TABLE} still there"


def reachable_from_root():
    """Does a TCP connection from the root namespace (worker A's) reach host B's libvirtd?"""
    import socket

    try:
        socket.create_connection(LIBVIRTD_B, timeout=3).close()
    except OSError:
        return False
    return True


def on_b(*args):
    """virsh on host B from inside its namespace (the cut is in the root namespace only)."""
    result = subprocess.run(
        [str(HOSTB), "virsh", "-q", "-c", "qemu:///system", *args], capture_output=True, text=True, timeout=60
    )
    return result.stdout.strip()


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
    events_before = fleet_db.execute("SELECT coalesce(max(id), 0) FROM scheduler_haevent").fetchone()[0]
    failovers_before = fleet_db.execute(
        "SELECT count(*) FROM portal_operation WHERE kind = 'host.failover'"
    ).fetchone()[0]
    states = set()
    try:
        cut()
        assert not reachable_from_root(), "the rule does not cut the root namespace from host B's libvirtd"
        started = time.monotonic()
        while time.monotonic() - started < CUT_S:
            states.add(admin.get(f"hosts/{host_b['id']}/")["state"])
            failovers = fleet_db.execute(
                "SELECT count(*) FROM portal_operation WHERE kind = 'host.failover'"
            ).fetchone()[0]
            assert failovers == failovers_before, "a failover of host B started: one worker's isolation fenced it"
            time.sleep(POLL_S)
    finally:
        uncut()
        admin.call(
            "PATCH", f"scheduler-settings/{cluster}/", expect=200, json={"ha_isolation_s": settings["ha_isolation_s"]}
        )
    events = fleet_db.execute(
        "SELECT e.kind, e.detail FROM scheduler_haevent e WHERE e.id > %s AND e.host_id = %s ORDER BY e.id",
        [events_before, host_b["id"]],
    ).fetchall()
    print(f"\nworker A cut from host B's libvirtd for {CUT_S} s (isolation {ISOLATION_S} s): host B states {states};")
    for kind, detail in events:
        print(f"  HA event {kind}: {detail[:160]}")
    assert states == {"up"}, states
    assert any(kind == "heartbeat-missed" for kind, _ in events), "no heartbeat missed: the cut did not bite"
    assert not [k for k, _ in events if k in ("isolated", "fenced", "fence-failed", "restart")], events
    # The same guest, never restarted: still running on host B under the same domain id, not on A.
    assert on_b("domstate", domain) == "running" and on_b("domid", domain) == dom_id
    assert domain not in checks.domains(host_a["uri"])
    after = admin.get(f"instances/{instance['id']}/")
    assert after["host"] == host_b["id"] and after["state"] == "active", after
    # Worker A reaches host B again: host B's HA state is healthy again within a few rounds.
    deadline = time.monotonic() + RECOVERY_S
    while (
        fleet_db.execute("SELECT ha_state FROM scheduler_hostpower WHERE host_id = %s", [host_b["id"]]).fetchone()[0]
        != "healthy"
    ):
        assert time.monotonic() < deadline, f"host B not healthy {RECOVERY_S} s after the cut ended"
        time.sleep(POLL_S)
    admin.call("POST", f"instances/{instance['id']}/set-ha/", expect=200, json={"ha_priority": 0})
    admin.succeeded(admin.action("DELETE", f"instances/{instance['id']}/"))
    checks.assert_settled(admin, fleet, hosts, project, [instance], quota_before)
