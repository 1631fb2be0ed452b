"""Servers under the fleet stopped and started again mid-operation, driven from outside: the
fleet's own Redis and PostgreSQL (lab/fleet-up.sh runs private ones, so restarting them hurts
nobody else) and the lab's OVN Northbound database (under the lab lock, started again exactly as
lab/up.sh starts it), all through lab/fleet-service.sh. Each test ends with
tests/fleet/checks.assert_settled, and with a fresh action succeeding: the processes reconnected."""

import socket
import subprocess
import time
from contextlib import contextmanager

import requests
import websockets

from tests.fleet import checks
from tests.fleet.checks import virsh
from tests.fleet.client import DONE, ROOT, drain, subscribe
from tests.fleet.test_faults import REAPED_WITHIN_S, claimed, create, migrating_in_precopy

SERVICE = ROOT / "lab" / "fleet-service.sh"
OUTAGE_S = 5  # how long each server stays down
RECOVERY_S = 60  # the web answering 200 again after a server is back
STEADY_REQUESTS = 20  # after recovery: every one must be a 200 (both uvicorn workers)


# where each server listens (lab/lib.sh): down means refused there, up means accepted
ADDRESSES = {
    "redis": ("127.0.0.1", 6390),
    "postgres": ("127.0.0.1", 5442),
    "ovn-nb": ("10.99.0.1", 6641),
    "libvirtd-b": ("10.99.0.2", 16509),
}


LISTEN_SETTLE_S = 10


def listening(what):
    try:
        socket.create_connection(ADDRESSES[what], timeout=5).close()
    except OSError:
        return False
    return True


def service(what, verb):
    result = subprocess.run([str(SERVICE), what, verb], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{what} {verb}: {result.stdout}{result.stderr}"
    # The pid is gone before the kernel has closed all its sockets (its memory goes first, and
    # /proc/PID/exe with it): a connect in between was accepted once (session 12's rehearsal).
    deadline = time.monotonic() + LISTEN_SETTLE_S
    while listening(what) != (verb == "start") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert listening(what) == (verb == "start"), (
        f"{what} {verb}: {ADDRESSES[what]} {'not ' * (verb == 'start')}listening after {LISTEN_SETTLE_S} s"
    )


@contextmanager
def down(what):
    """`what` stopped for the block (checked: nothing listens), started again after it (also
    when the block fails)."""
    service(what, "stop")
    try:
        yield
    finally:
        service(what, "start")


def answers(fleet, path="instances/?page_size=5", token=None):
    try:
        got = requests.get(f"{fleet['url']}/api/v1/{path}", headers={"Authorization": token}, timeout=10)
    except requests.RequestException as exc:
        return exc.__class__.__name__
    return got.status_code


def recovered(admin, fleet, since):
    """Seconds from `since` until the API answers 200, then STEADY_REQUESTS more 200s in a row."""
    token = admin.api.headers["Authorization"]
    deadline = time.monotonic() + RECOVERY_S
    while answers(fleet, token=token) != 200:
        assert time.monotonic() < deadline, f"the API does not answer 200 {RECOVERY_S}s after the restart"
        time.sleep(0.2)
    took = time.monotonic() - since
    after = [answers(fleet, token=token) for _ in range(STEADY_REQUESTS)]
    assert after == [200] * STEADY_REQUESTS, f"errors after recovery: {after}"
    return took


def running_create(admin, project, host, fleet_db, name):
    """A create queued and claimed by a worker; its Operation."""
    op = admin.action("POST", "instances/", json=create(admin, project, host, name))
    status, worker = claimed(fleet_db, op["id"])
    return op, status, worker


def ended(admin, op, what, t0):
    op = admin.wait(op, timeout=REAPED_WITHIN_S + OUTAGE_S)
    print(
        f"\n{what}: create {op['status']} {time.monotonic() - t0:.1f} s after the stop: {op['error'] or op['message']}"
    )
    return op


def check_instance(admin, hosts, op):
    """The create's instance as the API has it, and virsh agreeing."""
    instance = admin.get(f"instances/{op['target_id']}/")
    if op["status"] == "succeeded":
        assert instance["state"] == "active", instance
    else:
        assert instance["state"] == "error", instance
    host = next((h for h in hosts.values() if h["id"] == instance["host"]), None)
    for each in hosts.values():
        present = instance["domain_name"] in checks.domains(each["uri"])
        assert present == (each is host and op["status"] == "succeeded"), f"{each['name']}: domain present {present}"
    return instance


def closed_with(sock, seconds):
    """The close code the server sent on `sock` within `seconds` (None: still open)."""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            sock.recv(timeout=max(0.1, deadline - time.monotonic()))
    except TimeoutError:
        return None
    except websockets.exceptions.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else "no close frame"
    return None


def test_the_fleets_redis_restarted_during_a_create_loses_nothing(admin, fleet, hosts, tenant, fleet_db):
    """Redis (broker, channel layer, cache; no persistence) stopped for 5 s while a worker runs a
    create, and started empty: the create ends within its bound and the API and virsh agree; a
    create sent while Redis is down is refused or failed with the reason, nothing held for it;
    a page open across the restart is closed with 1012 (it would be deaf: Redis forgot its
    groups); afterwards the workers take new tasks and websockets carry progress again."""
    project, quota_before = tenant
    host_a = next(iter(hosts.values()))
    op, status, worker = running_create(admin, project, host_a, fleet_db, "redis-blip")
    page = admin.socket()
    subscribe(page, f"project.{project['id']}")
    t0 = time.monotonic()
    with down("redis"):
        during = admin.call("POST", "instances/", json=create(admin, project, host_a, "redis-down"))
        time.sleep(OUTAGE_S)
    restarted = time.monotonic()
    page_closed = closed_with(page, 30)
    print(f"\ncreate sent while Redis was down: {during.status_code} {during.text[:300]}")
    print(f"the page open across the restart: closed with {page_closed}")
    assert page_closed == 1012, page_closed
    op = ended(admin, op, f"Redis restart (create {status} on {worker})", t0)
    made = [check_instance(admin, hosts, op)]
    if during.status_code == 202:
        late = admin.wait(during.json(), timeout=REAPED_WITHIN_S)
        print(f"that create: {late['status']}: {late['error'] or late['message']}")
        assert late["status"] in DONE, late
        made.append(check_instance(admin, hosts, late))
    else:
        assert 500 <= during.status_code or 400 <= during.status_code < 500, during.text
    print(f"API steady again {recovered(admin, fleet, restarted):.1f} s after Redis started")
    after = admin.succeeded(admin.action("POST", "instances/", json=create(admin, project, host_a, "redis-after")))
    made.append(admin.get(f"instances/{after['target_id']}/"))
    sock = admin.socket()
    try:
        subscribe(sock, f"project.{project['id']}")
        deletes = [admin.action("DELETE", f"instances/{i['id']}/") for i in made]
        ids = {d["id"] for d in deletes}
        heard = drain(
            sock,
            lambda ms: (
                ids <= {m["data"]["id"] for m in ms if m.get("event") == "operation" and m["data"]["status"] in DONE}
            ),
            timeout=120,
        )
    finally:
        sock.close()
    assert ids <= {m["data"]["id"] for m in heard if m.get("event") == "operation"}, "no progress over websockets"
    for d in deletes:
        admin.succeeded(d)
    checks.assert_settled(admin, fleet, hosts, project, made, quota_before)


def test_the_fleets_postgresql_restarted_during_a_create(admin, fleet, hosts, tenant, fleet_db):
    """PostgreSQL stopped (fast shutdown: every session cut) for 5 s while a worker in host B's
    namespace runs a create: the create ends within its bound and virsh agrees; the API answers
    200 again once PostgreSQL is back, then never an error; a new create succeeds (the workers
    reconnected)."""
    project, quota_before = tenant
    host_b = list(hosts.values())[-1]
    op, status, worker = running_create(admin, project, host_b, fleet_db, "pg-blip")
    t0 = time.monotonic()
    with down("postgres"):
        during = [answers(fleet, token=admin.api.headers["Authorization"]) for _ in range(3)]
        time.sleep(OUTAGE_S)
    restarted = time.monotonic()
    print(f"\nAPI while PostgreSQL was down: {during}")
    print(f"API steady again {recovered(admin, fleet, restarted):.1f} s after PostgreSQL started")
    op = ended(admin, op, f"PostgreSQL restart (create {status} on {worker})", t0)
    made = [check_instance(admin, hosts, op)]
    after = admin.succeeded(admin.action("POST", "instances/", json=create(admin, project, host_b, "pg-after")))
    made.append(admin.get(f"instances/{after['target_id']}/"))
    for d in [admin.action("DELETE", f"instances/{i['id']}/") for i in made]:
        admin.succeeded(d)
    checks.assert_settled(admin, fleet, hosts, project, made, quota_before)


def in_nb(switch):
    return switch in checks.nb_rows()


def test_the_ovn_nb_stopped_during_a_network_create(admin, fleet, hosts, tenant):
    """The lab's OVN NB stopped while a network is created and started again 5 s later: the
    create's Operation ends within its bound, the network's state agrees with the NB (a switch
    there exactly when the network is active); a new network and port are realised afterwards,
    and every one of them deletes leaving no NB row."""
    project, quota_before = tenant
    t0 = time.monotonic()
    with down("ovn-nb"):
        made = admin.call("POST", "networks/", expect=201, json={"project": project["id"], "name": "nb-blip"}).json()
        time.sleep(OUTAGE_S)
    op = admin.wait(admin.get(f"operations/{made['operation']}/"), timeout=REAPED_WITHIN_S + OUTAGE_S)
    print(
        f"\nOVN NB restart: network create {op['status']} {time.monotonic() - t0:.1f} s after the stop: "
        f"{op['error'] or op['message']}"
    )
    network = admin.get(f"networks/{made['id']}/")
    switch = f"nubes-{network['uuid']}"
    assert (network["state"] == "active") == in_nb(switch), (network["state"], op)
    after = admin.call("POST", "networks/", expect=201, json={"project": project["id"], "name": "nb-after"}).json()
    admin.succeeded(admin.get(f"operations/{after['operation']}/"))
    assert in_nb(f"nubes-{after['uuid']}")
    for net in (network, after):
        admin.succeeded(admin.action("DELETE", f"networks/{net['id']}/"))
    rows = checks.nb_rows()
    assert switch not in rows and f"nubes-{after['uuid']}" not in rows, "NB rows left"
    checks.assert_settled(admin, fleet, hosts, project, [], quota_before)


def host_state(admin, host):
    return admin.get(f"hosts/{host['id']}/")["state"]


def test_host_b_libvirtd_killed_during_a_migration_to_it_leaves_the_guest_running_on_a(
    admin, fleet, hosts, tenant, fleet_db
):
    """Host B's libvirtd SIGKILLed while a live migration A -> B (5 MiB/s) is in pre-copy, then
    started again as lab/up.sh starts it: the migration fails, the guest runs on host A only, the
    API says host A, host B keeps nothing of it and is up again."""
    project, quota_before = tenant
    host_a, host_b = hosts.values()
    instance, op, _ = migrating_in_precopy(admin, fleet_db, project, hosts, "stays-on-a")
    t0 = time.monotonic()
    try:
        service("libvirtd-b", "kill")
        op = admin.wait(op, timeout=REAPED_WITHIN_S)
        took = time.monotonic() - t0
    finally:
        service("libvirtd-b", "start")
    print(f"\nhost B's libvirtd killed in pre-copy -> migration {op['status']} in {took:.1f} s: {op['error']}")
    assert op["status"] == "failed", op
    instance = admin.get(f"instances/{instance['id']}/")
    assert instance["state"] == "active" and instance["host"] == host_a["id"], instance
    assert virsh(host_a["uri"], "domstate", instance["domain_name"]).strip() == "running"
    assert instance["domain_name"] not in checks.domains(host_b["uri"]), "host B kept the incoming guest"
    deadline = time.monotonic() + RECOVERY_S
    while host_state(admin, host_b) != "up":
        assert time.monotonic() < deadline, f"host B is {host_state(admin, host_b)} {RECOVERY_S}s after libvirtd"
        time.sleep(1)
    print(f"host B up again in the API {time.monotonic() - t0:.1f} s after the kill")
    admin.succeeded(admin.action("DELETE", f"instances/{instance['id']}/"))
    checks.assert_settled(admin, fleet, hosts, project, [instance], quota_before)
