"""`make run` on a fresh machine: the commands it runs (migrate, seed_demo, runportal) in a fresh
data directory leave no failed, queued or running operation and every seeded object active.
(The seed used to queue its networks' tasks on an in-memory queue that died with it; the portal
then marked them interrupted and the networks stayed pending.)

With ovn-central installed the embedded default serves its own OVN Northbound (ovsdb-server, a
child of seed_demo and then of runportal): the seeded networks are OVN's, with an external one,
and a router, a security group and a floating IP a member makes over HTTP are rows in that NB,
read back here with ovsdb-client (not Nubes); the server goes with the portal, even when the
portal is killed."""

import http.client
import json
import os
import re
import signal
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from network.conf import EMBEDDED_NOTE
from network.ovn.local_server import NbServer, missing_tools
from tests.browser.conftest import portal_environment, run_shell, start_portal, stop

REPORT = """
import json
from compute.models import Host
from network.models import Network, Subnet
from portal.models import Operation
from storage.models import StoragePool
print(json.dumps({
    "operations": [[o.kind, o.target_name, o.status, o.message] for o in Operation.objects.order_by("pk")],
    "hosts": sorted({h.state for h in Host.objects.all()}),
    "pools": sorted({p.state for p in StoragePool.objects.all()}),
    "networks": sorted({n.state for n in Network.objects.all()}),
    "subnets": sorted({s.state for s in Subnet.objects.all()}),
    "backends": sorted({n.backend for n in Network.objects.all()}),
    "counts": [Host.objects.count(), StoragePool.objects.count(), Network.objects.count(), Subnet.objects.count()],
}))
"""
TOKENS = """
from django.contrib.auth import get_user_model
from portal.models import ApiToken
users = get_user_model().objects
print(ApiToken.issue(users.get(username="admin"), "first-run")[1])
print(ApiToken.issue(users.get(username="alice"), "first-run")[1])
"""
OVN_MISSING = missing_tools()
needs_ovn = pytest.mark.skipif(OVN_MISSING is not None, reason=f"no embedded OVN Northbound: {OVN_MISSING}")
SETTLE_S = 30
GONE_S = 10


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    data = tmp_path_factory.mktemp("first-run")
    env = portal_environment(data)
    process, url = start_portal(env)
    run = SimpleNamespace(env=env, data=data, url=url, process=process)
    yield run
    stop(run.process)


def nb_pid(run):
    """The embedded NB server's PID, as the portal's last start logged it."""
    pids = re.findall(r"ovsdb-server pid (\d+) on unix:", (run.data / "portal.log").read_text())
    assert pids, (run.data / "portal.log").read_text()[-2000:]
    return int(pids[-1])


def alive(pid):
    try:
        return b"ovsdb-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def wait_gone(pid):
    deadline = time.monotonic() + GONE_S
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)


def switch_names(run):
    return sorted(row["name"] for row in NbServer(run.data / "ovn-nb").rows("Logical_Switch"))


def api(run, token, path, body=None):
    request = urllib.request.Request(
        f"{run.url}/api/v1/{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "X-Nubes-Project": "1"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def settled(run, token, made):
    """Wait for the operation a write answered with (its own `operation`, or an Operation itself)."""
    op = made.get("operation") if "operation" in made else made["id"]
    deadline = time.monotonic() + SETTLE_S
    while True:
        status = api(run, token, f"operations/{op}/")
        if status["status"] not in ("queued", "running") or time.monotonic() > deadline:
            assert status["status"] == "succeeded", status
            return made
        time.sleep(0.2)


def test_a_first_run_shows_no_failed_operation_and_every_seeded_object_active(first_run):
    report = json.loads(run_shell(first_run.env, REPORT))
    log = (first_run.data / "portal.log").read_text()
    seed_log = (first_run.data / "seed.log").read_text()
    assert "marked failed" not in log, log
    ops = report["operations"]
    assert ops, "the seed ran no operation at all"
    assert [o for o in ops if o[2] != "succeeded"] == [], ops
    assert report["hosts"] == ["up"] and report["pools"] == ["active"]
    assert report["networks"] == ["active"] and report["subnets"] == ["active"]
    hosts, pools, networks, subnets = report["counts"]
    seeded = 2 if OVN_MISSING else 3  # each tenant's private network (+ the external one on OVN)
    assert hosts >= 2 and pools == hosts + 1 and networks == seeded and subnets == seeded  # + the shared pool
    if OVN_MISSING is None:  # the seed and the portal each served the embedded NB
        assert report["backends"] == ["ovn"], report
        assert EMBEDDED_NOTE in seed_log and EMBEDDED_NOTE in log
    else:  # the fallback says why
        assert report["backends"] == ["libvirt"], report
        assert "No embedded OVN Northbound" in log and "libvirt backend" in log


def test_a_keep_alive_connection_idle_past_uvicorns_own_5_s_still_serves(first_run):
    """Clients that poll every 5 s (openstackclient's --wait) send on the connection they kept:
    with uvicorn's own 5 s keep-alive the portal closed it as the request went out ("connection
    reset by peer" in session 12's rehearsal). It stays open NUBES_KEEP_ALIVE_S (65) s."""
    host, port = first_run.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        for _ in range(2):
            conn.request("GET", "/login/")
            response = conn.getresponse()
            response.read()
            assert response.status == 200 and not response.will_close
            kept = conn.sock
            time.sleep(6)  # idle past uvicorn's own 5 s
        conn.request("GET", "/login/")
        assert conn.getresponse().status == 200 and conn.sock is kept  # the same connection
    finally:
        conn.close()


@needs_ovn
def test_a_router_security_group_and_floating_ip_made_over_http_are_rows_in_the_embedded_nb(first_run):
    admin, alice = run_shell(first_run.env, TOKENS).split()
    nb = NbServer(first_run.data / "ovn-nb")
    seeded = {n["name"]: n for n in api(first_run, alice, "networks/")["results"]}
    private, public = seeded["private"], seeded["public"]  # the seed's: alice needs no cloud admin
    assert public["external"] and private["backend_label"] == EMBEDDED_NOTE  # the API says so too
    assert len(nb.rows("Logical_Switch", name=f"nubes-{private['uuid']}")) == 1  # the seeded networks
    assert len(nb.rows("Logical_Switch", name=f"nubes-{public['uuid']}")) == 1

    router = settled(
        first_run, alice, api(first_run, alice, "routers/", {"name": "edge", "external_network": public["id"]})
    )
    group = settled(first_run, alice, api(first_run, alice, "security-groups/", {"name": "web"}))
    port = settled(
        first_run, alice, api(first_run, alice, "ports/", {"network": private["id"], "security_groups": [group["id"]]})
    )
    settled(
        first_run,
        alice,
        api(first_run, alice, f"routers/{router['id']}/add-interface/", {"subnet": private["subnets"][0]}),
    )
    fip = settled(
        first_run, alice, api(first_run, alice, "floating-ips/", {"network": public["id"], "port": port["id"]})
    )

    [lr] = nb.rows("Logical_Router", name=f"nubes-{router['uuid']}")
    nats = {(n["type"], n["external_ip"], n["logical_ip"]) for n in nb.rows("NAT")}
    assert ("dnat_and_snat", fip["floating_ip_address"], port["fixed_ips"][0]["ip_address"]) in nats
    assert len(nb.rows("Port_Group", name=f"nubes_sg_{group['uuid'].replace('-', '')}")) == 1
    assert len(lr["ports"][1]) == 2  # the gateway port and the interface on the private subnet
    ops = api(first_run, admin, "operations/?page_size=200")["results"]
    assert [(o["kind"], o["status"]) for o in ops if o["status"] != "succeeded"] == []


@needs_ovn
def test_the_nb_server_goes_with_the_portal_even_killed_and_the_next_start_serves_the_same_nb(first_run):
    first = nb_pid(first_run)
    assert alive(first)
    stop(first_run.process)
    assert wait_gone(first), "ovsdb-server outlived the stopped portal"

    first_run.process, first_run.url = start_portal(first_run.env, seed=False)
    second = nb_pid(first_run)
    assert second != first and alive(second)
    switches = switch_names(first_run)
    assert len(switches) >= 3, "the NB database did not persist across runs"  # the seeded networks

    os.kill(first_run.process.pid, signal.SIGKILL)  # a crash: no cleanup in the portal
    first_run.process.wait(10)
    assert wait_gone(second), "ovsdb-server outlived the killed portal"

    first_run.process, first_run.url = start_portal(first_run.env, seed=False)  # nothing stale blocks it
    assert alive(nb_pid(first_run)) and switch_names(first_run) == switches
