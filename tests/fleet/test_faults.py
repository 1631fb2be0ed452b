"""Faults on the fleet, driven from outside (HTTP, the fleet's database read with psql's driver,
virsh, ovn-nbctl), each bounded in time and ending with tests/fleet/checks.assert_settled.
Signals go only to processes the fleet started (or their children: a Celery pool process).

Servers restarted under the fleet (Redis, PostgreSQL, the OVN NB, host B's libvirtd) are in
test_outages.py."""

import os
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.fleet import checks
from tests.fleet.client import DONE
from tests.fleet.conftest import virsh, web_workers
from tests.fleet.test_fleet import one

LEASE_S, REAPER_S = 30, 15  # the fleet runs the defaults (NUBES_OPERATION_LEASE, NUBES_REAPER_INTERVAL)
REAPED_WITHIN_S = 2 * (LEASE_S + REAPER_S)  # the bound is lease + one reaper round; twice that for a busy machine
CLAIM_TIMEOUT_S = 120
KILL_TRIES = 3  # a create may end before the kill lands; then another
RACERS, FIT = 20, 2


def create(admin, project, host, name, **extra):
    flavor = one(admin.items("flavors/?page_size=100"), "lab.tiny")
    image = one(admin.items("images/?page_size=100"), "lab-guest")
    body = {"project": project["id"], "name": name, "flavor": flavor["id"], "image": image["id"], "host": host["id"]}
    return {**body, **extra}


def claimed(fleet_db, op_id):
    """(status, worker) once a worker claimed the Operation (or it ended), polled every 20 ms."""
    deadline = time.monotonic() + CLAIM_TIMEOUT_S
    while time.monotonic() < deadline:
        status, worker = fleet_db.execute(
            "SELECT status, worker FROM portal_operation WHERE id = %s", [op_id]
        ).fetchone()
        if status != "queued":
            return status, worker
        time.sleep(0.02)
    raise AssertionError(f"operation {op_id} not claimed within {CLAIM_TIMEOUT_S}s")


def test_sigkill_of_the_worker_process_running_a_create_ends_it_and_leaves_nothing(
    admin, fleet, hosts, tenant, fleet_db
):
    """The Celery pool process running an instance create is SIGKILLed mid-build (as the OOM
    killer would): the reaper fails the Operation within lease + reaper round, its settle hook
    removes what the build made on the host and gives the quota back; the instance is in error
    and deletes cleanly; the worker's main process replaced its pool process."""
    project, quota_before = tenant
    host = next(iter(hosts.values()))
    for attempt in range(KILL_TRIES):
        op = admin.action(
            "POST", "instances/", json=create(admin, project, host, f"killed-{attempt}", user_data="#cloud-config\n")
        )
        status, worker = claimed(fleet_db, op["id"])
        pid = int(worker.rsplit("/", 1)[1]) if status == "running" else 0
        owner = checks.started_by_fleet(fleet, pid)
        assert status != "running" or owner in ("worker-a", "worker-b"), f"{worker}: not a fleet worker's process"
        if status == "running":
            os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            break
        admin.succeeded(admin.action("DELETE", f"instances/{op['target_id']}/"))  # ended before the kill: again
    else:
        pytest.fail(f"{KILL_TRIES} creates all ended before their worker could be killed")
    op = admin.wait(op, timeout=REAPED_WITHIN_S)
    took = time.monotonic() - killed
    print(f"\nSIGKILL of {worker} ({owner}'s pool process) -> create failed in {took:.1f} s: {op['error']}")
    assert op["status"] == "failed" and f"Worker lost: {worker}" in op["error"], op
    assert "interrupted" in op["error"] and "nothing was left on the host" in op["error"], op["error"]
    instance = admin.get(f"instances/{op['target_id']}/")
    assert instance["state"] == "error", instance
    assert checks.left_on_hosts(hosts, [instance]) == []
    assert checks.quota_in_use(admin, project) == quota_before, "the lost build's quota was not given back"
    parent = checks.recorded(fleet, owner)
    assert len(checks.children(parent)) >= 2, f"{owner} did not replace its killed pool process"
    admin.succeeded(admin.action("DELETE", f"instances/{instance['id']}/"))
    checks.assert_settled(admin, fleet, hosts, project, [instance], quota_before)


def used_ram(admin, host):
    placed = ("building", "active", "shutoff", "paused", "suspended", "error")
    return sum(
        i["ram_mb"] for i in admin.items("instances/?page_size=500") if i["host"] == host["id"] and i["state"] in placed
    )


def test_20_concurrent_creates_for_the_last_room_of_a_host_place_exactly_what_fits(admin, fleet, hosts, tenant):
    """Host B keeps room for exactly 2 lab.tiny guests (its reserved memory set so); 20 creates
    sent at once over 20 connections: exactly 2 are accepted and run, 18 are refused with the
    memory it lacks, nothing else is made."""
    project, quota_before = tenant
    host = list(hosts.values())[-1]
    body = create(admin, project, host, "racer")
    ram = one(admin.items("flavors/?page_size=100"), "lab.tiny")["ram_mb"]
    reserved = host["reserved_memory_mb"]
    room = host["memory_mb"] - reserved - used_ram(admin, host)
    squeeze = reserved + room - FIT * ram - ram // 2
    admin.call("PATCH", f"hosts/{host['id']}/", expect=200, json={"reserved_memory_mb": squeeze})
    token = admin.api.headers["Authorization"]

    def race(index):
        with requests.Session() as session:
            session.headers["Authorization"] = token
            return session.post(
                f"{fleet['url']}/api/v1/instances/", json={**body, "name": f"racer-{index}"}, timeout=120
            )

    try:
        with ThreadPoolExecutor(RACERS) as pool:
            answers = list(pool.map(race, range(RACERS)))
    finally:
        admin.call("PATCH", f"hosts/{host['id']}/", expect=200, json={"reserved_memory_mb": reserved})
    accepted = [a.json() for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code != 202]
    print(f"\n{RACERS} concurrent creates for room for {FIT}: {len(accepted)} accepted, {len(refused)} refused")
    assert all(400 <= a.status_code < 500 and "memory" in a.text for a in refused), [a.text for a in refused][:3]
    assert len(accepted) == FIT
    made = [admin.get(f"instances/{admin.succeeded(op)['target_id']}/") for op in accepted]
    assert all(i["host"] == host["id"] and i["state"] == "active" for i in made), made
    assert len(admin.items(f"instances/?project={project['id']}")) == FIT
    for op in [admin.action("DELETE", f"instances/{i['id']}/") for i in made]:
        admin.succeeded(op)
    checks.assert_settled(admin, fleet, hosts, project, made, quota_before)


def in_precopy(fleet_db, op_id):
    """The pool process running the migration (from its Operation) once libvirt copies memory."""
    deadline = time.monotonic() + CLAIM_TIMEOUT_S
    while time.monotonic() < deadline:
        row = fleet_db.execute(
            "SELECT m.phase, o.status, o.worker FROM compute_migration m JOIN portal_operation o"
            " ON o.id = m.operation_id WHERE o.id = %s",
            [op_id],
        ).fetchone()
        if row and (row[0] == "precopy" or row[1] not in ("queued", "running")):
            return row
        time.sleep(0.05)
    raise AssertionError(f"migration of operation {op_id} not in pre-copy within {CLAIM_TIMEOUT_S}s")


def migrating_in_precopy(admin, fleet_db, project, hosts, name):
    """A guest made on host A, live-migrating to host B at 5 MiB/s, seen in pre-copy:
    (instance, migration Operation, the worker process running it)."""
    host_a, host_b = hosts.values()
    made = admin.succeeded(admin.action("POST", "instances/", json=create(admin, project, host_a, name)))
    instance = admin.get(f"instances/{made['target_id']}/")
    body = {"instance": instance["id"], "target_host": host_b["id"], "live": True, "bandwidth_mib_s": 5}
    op = admin.action("POST", "migrations/", json=body)
    phase, status, worker = in_precopy(fleet_db, op["id"])
    assert phase == "precopy", f"the migration ended ({status}) before its pre-copy was seen"
    return instance, op, worker


def test_sigkill_of_the_worker_process_running_a_live_migration_leaves_the_guest_where_libvirt_has_it(
    admin, fleet, hosts, tenant, fleet_db
):
    """A live migration A -> B, slowed to 5 MiB/s, loses its worker process in pre-copy: the
    reaper's settle hook aborts libvirt's job on the source and settles the instance where
    libvirt has it; the guest runs there and only there, the database agrees."""
    project, quota_before = tenant
    instance, op, worker = migrating_in_precopy(admin, fleet_db, project, hosts, "mover")
    pid = int(worker.rsplit("/", 1)[1])
    owner = checks.started_by_fleet(fleet, pid)
    assert owner in ("worker-a", "worker-b"), f"{worker}: not a fleet worker's process"
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    op = admin.wait(op, timeout=REAPED_WITHIN_S)
    took = time.monotonic() - killed
    print(f"\nSIGKILL of {worker} ({owner}) in pre-copy -> migration {op['status']} in {took:.1f} s: {op['error']}")
    assert op["status"] == "failed" and f"Worker lost: {worker}" in op["error"], op
    instance = admin.get(f"instances/{instance['id']}/")
    assert instance["state"] == "active", instance
    where = next(h for h in hosts.values() if h["id"] == instance["host"])
    for host in hosts.values():
        state = virsh(host["uri"], "domstate", instance["domain_name"]).strip()
        assert (state == "running") == (host is where), f"{host['name']}: {state!r}, the API says {where['name']}"
    admin.succeeded(admin.action("DELETE", f"instances/{instance['id']}/"))
    checks.assert_settled(admin, fleet, hosts, project, [instance], quota_before)


class SlowBody:
    """A request body of `size` zero bytes read at about `rate` bytes/s (Content-Length known)."""

    def __init__(self, size, rate):
        self.left, self.rate = size, rate
        self.size = size
        self.cut = False  # set once the server is gone: the rest is not sent

    def __len__(self):
        return self.size

    def read(self, n=-1):
        n = 0 if self.cut else self.left if n < 0 else min(n, self.left)
        self.left -= n
        time.sleep(n / self.rate)
        return bytes(n)


# Django's ASGI handler reads the whole body (spooled to a temporary file) before the view runs;
# the kill lands while the view streams it into the host's pool (50-130 MiB/s here).
UPLOAD_MIB, UPLOAD_RATE_MIB_S = 256, 256


def kill_mid_upload(admin, fleet, fleet_db, method, path, kind, target_id):
    """Stream a body into `path` and SIGKILL the uvicorn worker running the `kind` Operation on
    `target_id` once it recorded progress; returns that Operation once the reaper ended it."""
    url = f"{fleet['url']}/api/v1/{path}"
    headers = {"Authorization": admin.api.headers["Authorization"], "Content-Type": "application/octet-stream"}
    data = SlowBody(UPLOAD_MIB << 20, UPLOAD_RATE_MIB_S << 20)
    with ThreadPoolExecutor(1) as pool_:
        sending = pool_.submit(requests.request, method, url, data=data, headers=headers, timeout=120)
        deadline, row = time.monotonic() + CLAIM_TIMEOUT_S, None
        while time.monotonic() < deadline and not (row and (row[1] == "running" and row[3] > 0 or row[1] in DONE)):
            if sending.done():  # answered before any progress: refused, or too fast to catch
                answer = sending.result()
                raise AssertionError(f"the upload ended first: {answer.status_code} {answer.text[:300]}")
            row = fleet_db.execute(
                "SELECT id, status, worker, progress FROM portal_operation WHERE kind = %s"
                " AND target_id = %s ORDER BY id DESC LIMIT 1",
                [kind, str(target_id)],
            ).fetchone()
            time.sleep(0.02)
        assert row and row[1] == "running", f"the upload was not seen running: {row}"
        op_id, _, worker, _ = row
        pid = int(worker.rsplit("/", 1)[1])
        assert worker.startswith("web@") and checks.started_by_fleet(fleet, pid) == "web", worker
        os.kill(pid, signal.SIGKILL)
        killed, data.cut = time.monotonic(), True
        with pytest.raises(requests.RequestException):
            sending.result().raise_for_status()  # the connection closed under it
    return reaped_web_worker(admin, fleet, op_id, worker, killed, kind)


def reaped_web_worker(admin, fleet, op_id, worker, killed, what):
    """The Operation `op_id` once the reaper failed it for the uvicorn `worker` SIGKILLed at
    `killed` (monotonic; the time taken printed), and uvicorn's two workers back."""
    op = admin.wait(admin.get(f"operations/{op_id}/"), timeout=REAPED_WITHIN_S)
    took = time.monotonic() - killed
    print(f"\nSIGKILL of {worker} mid-{what} -> {op['status']} in {took:.1f} s: {op['error']}")
    assert op["status"] == "failed" and f"Worker lost: {worker}" in op["error"], op
    deadline = time.monotonic() + CLAIM_TIMEOUT_S
    while len(web_workers(fleet)) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(web_workers(fleet)) == 2, "uvicorn did not replace its killed worker"
    return op


def test_sigkill_of_the_web_process_streaming_an_upload_leaves_the_volume_as_it_was(
    admin, fleet, hosts, tenant, fleet_db
):
    """The uvicorn worker streaming a volume upload into host storage is SIGKILLed mid-way: the
    reaper fails the upload within lease + reaper round (its web process held the lease), its
    settle hook removes the half-written file and makes the volume available, its data as it was;
    uvicorn starts a new worker."""
    project, quota_before = tenant
    pool = one(admin.items("storage-pools/?page_size=100"), checks.SHARED_POOL)
    body = {"project": project["id"], "name": "upload-victim", "pool": pool["id"], "size_gb": 1, "format": "raw"}
    volume = admin.get(f"volumes/{admin.succeeded(admin.action('POST', 'volumes/', json=body))['target_id']}/")
    kill_mid_upload(admin, fleet, fleet_db, "PUT", f"volumes/{volume['id']}/upload/", "volume.upload", volume["id"])
    after = admin.get(f"volumes/{volume['id']}/")
    assert after["state"] == "available", after
    for host in hosts.values():
        virsh(host["uri"], "pool-refresh", checks.SHARED_POOL)
        listed = virsh(host["uri"], "vol-list", checks.SHARED_POOL).splitlines()
        files = [line.split()[0] for line in listed if volume["uuid"] in line]
        assert files == [after["path"].rsplit("/", 1)[1]], f"{host['name']}: {files}, the API says {after['path']}"
    admin.succeeded(admin.action("DELETE", f"volumes/{volume['id']}/"))
    checks.assert_settled(admin, fleet, hosts, project, [], quota_before)


def test_sigkill_of_the_web_process_streaming_an_image_upload_leaves_no_partial_image(admin, fleet, hosts, fleet_db):
    """The uvicorn worker streaming an image upload into the image's pool on its home host is
    SIGKILLed mid-way: the reaper fails the upload within lease + reaper round, its settle hook
    removes the partial volume and leaves the image in error (uploadable again)."""
    name = f"fleet-upload-{uuid.uuid4().hex[:8]}"
    body = {"name": name, "format": "raw", "pool": checks.SHARED_POOL, "volume": f"{name}.raw", "state": "queued"}
    image = admin.call("POST", "images/", expect=201, json=body).json()
    try:
        kill_mid_upload(admin, fleet, fleet_db, "POST", f"images/{image['id']}/upload/", "image.upload", image["id"])
        after = admin.get(f"images/{image['id']}/")
        assert after["state"] == "error" and "interrupted" in after["state_reason"], after
        for host in hosts.values():
            virsh(host["uri"], "pool-refresh", checks.SHARED_POOL)
            listed = virsh(host["uri"], "vol-list", checks.SHARED_POOL)
            assert f"{name}.raw" not in listed, f"{host['name']} keeps the partial image"
    finally:
        admin.call("DELETE", f"images/{image['id']}/")
    assert requests.get(f"{fleet['url']}/readyz", timeout=10).status_code == 200


MOVE_GB = 8  # a raw volume libvirt copies for seconds here (reads every byte, writes sparse)
MOVE_POOL_DIR = "/var/lib/nubes-lab/fleet-move-{}"


@pytest.fixture
def pools_on_a(admin, hosts):
    """Two dir pools of host A only, made through the API; removed after."""
    host_a = next(iter(hosts.values()))
    tag = uuid.uuid4().hex[:6]
    made = []
    for side in ("src", "dst"):
        body = {
            "name": f"fleet-move-{tag}-{side}",
            "libvirt_name": f"nubes-fleet-move-{tag}-{side}",
            "type": "dir",
            "target_path": MOVE_POOL_DIR.format(f"{tag}-{side}"),
            "hosts": [host_a["id"]],
        }
        made.append(
            admin.get(
                f"storage-pools/{admin.succeeded(admin.action('POST', 'storage-pools/', json=body))['target_id']}/"
            )
        )
    yield host_a, made
    for pool in made:
        admin.wait(admin.action("DELETE", f"storage-pools/{pool['id']}/"))
        if os.path.isdir(pool["target_path"]) and not os.listdir(pool["target_path"]):
            os.rmdir(pool["target_path"])  # undefining a pool keeps its directory


def copying(fleet_db, op_id, target_dir):
    """(status, worker, the copy's name) once the move's copy file exists in the target pool (or the
    Operation ended), polled every 20 ms."""
    deadline = time.monotonic() + CLAIM_TIMEOUT_S
    while time.monotonic() < deadline:
        status, worker, detail = fleet_db.execute(
            "SELECT status, worker, detail FROM portal_operation WHERE id = %s", [op_id]
        ).fetchone()
        name = detail.get("new_layer")
        if status not in ("queued", "running") or (name and os.path.exists(os.path.join(target_dir, name))):
            return status, worker, name
        time.sleep(0.02)
    raise AssertionError(f"the move of operation {op_id} not seen copying within {CLAIM_TIMEOUT_S}s")


def test_sigkill_of_the_worker_process_moving_a_volume_leaves_it_in_one_place(
    admin, fleet, hosts, tenant, fleet_db, pools_on_a
):
    """A detached volume's move between two pools of host A loses its worker process while libvirt
    copies it: the reaper fails the move within its bound, its settle hook removes the partial copy
    (once libvirt stops writing it) and gives the volume back its state; the volume is in its old
    pool only, and usable: a second move of it succeeds."""
    project, quota_before = tenant
    host_a, (source, target) = pools_on_a
    body = {"project": project["id"], "name": "move-victim", "pool": source["id"], "size_gb": MOVE_GB, "format": "raw"}
    volume = admin.get(f"volumes/{admin.succeeded(admin.action('POST', 'volumes/', json=body))['target_id']}/")
    try:
        for _attempt in range(KILL_TRIES):
            op = admin.action("POST", f"volumes/{volume['id']}/migrate/", json={"pool": target["id"]})
            status, worker, copy = copying(fleet_db, op["id"], target["target_path"])
            if status == "running":
                break
            admin.wait(op)  # ended before the kill could land: move it back, again
            volume = admin.get(f"volumes/{volume['id']}/")
            if volume["pool"] == target["id"]:
                admin.succeeded(admin.action("POST", f"volumes/{volume['id']}/migrate/", json={"pool": source["id"]}))
        else:
            pytest.fail(f"{KILL_TRIES} moves all ended before their worker could be killed")
        pid = int(worker.rsplit("/", 1)[1])
        owner = checks.started_by_fleet(fleet, pid)
        assert owner in ("worker-a", "worker-b"), f"{worker}: not a fleet worker's process"
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        op = admin.wait(op, timeout=REAPED_WITHIN_S)
        took = time.monotonic() - killed
        print(
            f"\nSIGKILL of {worker} ({owner}) copying {MOVE_GB} GiB -> move {op['status']} in {took:.1f} s: {op['error']}"
        )
        assert op["status"] == "failed" and f"Worker lost: {worker}" in op["error"], op
        assert "stays in pool" in op["error"] and "partial copy was removed" in op["error"], op["error"]
        after = admin.get(f"volumes/{volume['id']}/")
        assert after["state"] == "available" and after["pool"] == source["id"], after
        for pool in (source, target):
            virsh(host_a["uri"], "pool-refresh", pool["libvirt_name"])
        assert virsh(host_a["uri"], "vol-list", target["libvirt_name"]).strip() == "", "the partial copy stayed"
        assert os.listdir(target["target_path"]) == [], os.listdir(target["target_path"])
        assert os.listdir(source["target_path"]) == [after["path"].rsplit("/", 1)[1]]
        assert [c for c in checks.children(checks.recorded(fleet, owner))], f"{owner} has no pool process left"
        again = admin.succeeded(admin.action("POST", f"volumes/{volume['id']}/migrate/", json={"pool": target["id"]}))
        moved = admin.get(f"volumes/{volume['id']}/")
        print(f"the volume moved again: {again['message']}")
        assert moved["pool"] == target["id"] and os.listdir(source["target_path"]) == [], moved
        assert os.listdir(target["target_path"]) == [moved["path"].rsplit("/", 1)[1]]
    finally:
        admin.wait(admin.action("DELETE", f"volumes/{volume['id']}/"))
    checks.assert_settled(admin, fleet, hosts, project, [], quota_before)
