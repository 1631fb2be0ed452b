"""Load on the fleet (`make lab-fleet`) with Locust, headless, for a bounded time, 127.0.0.1 only.

    make lab && make lab-fleet && .venv/bin/python bench/load.py [--readers 50] [--actors 5] [--run-time 60]

Readers browse the API's lists and an instance (API and HTML pages) and each holds a websocket
subscribed to one actor's project; actors run Operations in their own projects (quota recount,
volume create + delete: real work on a Celery worker, published through Redis). Prints
requests/s, p50 / p95 / p99 and errors per endpoint, websocket delivery (an Operation's
`finished`, written by the worker just before it publishes, to each socket's receipt, and split
into finished -> sent to the channel layer -> relayed by the consumer -> received), and the
memory (RSS) of every fleet process and its children at the start, after the first minute and
at the end. Skips, saying why, when the fleet is not up. Asserts nothing.
"""

from gevent import monkey

monkey.patch_all()  # before anything imports socket or ssl (Locust would do it on import anyway)

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import gevent  # noqa: E402
import websocket  # noqa: E402  (websocket-client: gevent-friendly once patched)
from locust import HttpUser, between, events, task  # noqa: E402
from locust.env import Environment  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fleet.client import fleet_or_say, sign_in_admin  # noqa: E402

LOOPBACK = ("127.0.0.1", "localhost")
OP_TIMEOUT_S = 120
FIRST_MINUTE_S = 60
PAGE = "?page_size=20"


class Shared:
    """What setup made, read by every simulated user."""

    url = token = session = instance = ""
    projects = []
    pool = 0
    turns = {"Reader": itertools.count(), "Actor": itertools.count()}  # a project per actor; readers spread


def _next_project(user):
    return Shared.projects[next(Shared.turns[type(user).__name__]) % len(Shared.projects)]


def _fire(name, started, exc=None, request_type="WS"):
    events.request.fire(
        request_type=request_type,
        name=name,
        response_time=(time.time() - started) * 1000,
        response_length=0,
        exception=exc,
        context={},
    )


def _split(finished, sent, relayed, received):
    """Delivery in three legs: the worker's `finished` → its publish to the channel layer (`sent`),
    → the web process's consumer relaying it (`relayed`), → this socket's receipt."""
    if sent is None or relayed is None:
        return
    for name, start, end in (
        ("delivery 1 finished -> sent", finished, sent),
        ("delivery 2 sent -> relayed", sent, relayed),
        ("delivery 3 relayed -> received", relayed, received),
    ):
        events.request.fire(
            request_type="WS",
            name=name,
            response_time=max(0.0, end - start) * 1000,
            response_length=0,
            exception=None,
            context={},
        )


class Reader(HttpUser):
    """Browses lists and an instance, and holds a websocket on one actor's project."""

    wait_time = between(1, 3)
    weight = 10

    def on_start(self):
        self.client.headers["Authorization"] = f"Bearer {Shared.token}"
        self.client.cookies.set("sessionid", Shared.session)
        project = _next_project(self)
        self.sock = None
        try:
            self.sock = websocket.create_connection(
                Shared.url.replace("http://", "ws://") + "/ws/",
                cookie=f"sessionid={Shared.session}",
                origin=Shared.url,
                timeout=30,
            )
            self.sock.send(json.dumps({"action": "subscribe", "group": f"project.{project}"}))
        except Exception as exc:  # noqa: BLE001 - counted as an error of the socket
            _fire("subscribe", time.time(), exc)
            return
        self.listener = gevent.spawn(self._listen)

    def _listen(self):
        while True:
            try:
                message = json.loads(self.sock.recv())
            except Exception:  # noqa: BLE001 - closed at the end of the run
                return
            data = message.get("data") or {}
            if message.get("event") == "operation" and data.get("finished") and data.get("status") == "succeeded":
                received = time.time()
                finished = datetime.fromisoformat(data["finished"]).timestamp()
                _fire("operation delivery", finished)
                _split(finished, message.get("sent"), message.get("relayed"), received)

    def on_stop(self):
        if self.sock is not None:
            self.sock.close()

    @task(4)
    def instances(self):
        self.client.get(f"/api/v1/instances/{PAGE}", name="GET /api/v1/instances/")

    @task(2)
    def operations(self):
        self.client.get(f"/api/v1/operations/{PAGE}", name="GET /api/v1/operations/")

    @task(2)
    def volumes(self):
        self.client.get(f"/api/v1/volumes/{PAGE}", name="GET /api/v1/volumes/")

    @task(3)
    def instance(self):
        self.client.get(f"/api/v1/instances/{Shared.instance}/", name="GET /api/v1/instances/<id>/")

    @task(2)
    def instances_page(self):
        self.client.get("/compute/instances/", name="page /compute/instances/")

    @task(2)
    def instance_page(self):
        self.client.get(f"/compute/instances/{Shared.instance}/", name="page /compute/instances/<id>/")


class Actor(HttpUser):
    """Runs Operations in a project of its own, one at a time, each to its end."""

    wait_time = between(2, 5)
    weight = 1

    def on_start(self):
        self.client.headers["Authorization"] = f"Bearer {Shared.token}"
        self.project = _next_project(self)

    def _run(self, method, path, name, **kwargs):
        with self.client.request(method, path, name=name, catch_response=True, **kwargs) as answer:
            if answer.status_code != 202:
                answer.failure(f"{answer.status_code}: {answer.text[:200]}")
                return None
        op, deadline = answer.json(), time.monotonic() + OP_TIMEOUT_S
        while time.monotonic() < deadline:
            op = self.client.get(f"/api/v1/operations/{op['id']}/", name="GET /api/v1/operations/<id>/").json()
            if op["status"] in ("succeeded", "failed", "cancelled"):
                break
            gevent.sleep(0.5)
        if op["status"] != "succeeded":
            _fire(f"{name} (operation)", time.time(), RuntimeError(f"{op['status']}: {op.get('error')}"), "OP")
            return None
        return op

    @task(2)
    def recount(self):
        self._run("POST", f"/api/v1/projects/{self.project}/recount-quota/", "POST recount-quota")

    @task(1)
    def volume(self):
        body = {"project": self.project, "name": f"load-{uuid.uuid4().hex[:6]}", "pool": Shared.pool, "size_gb": 1}
        op = self._run("POST", "/api/v1/volumes/", "POST /api/v1/volumes/", json=body)
        if op is not None:
            self._run("DELETE", f"/api/v1/volumes/{op['target_id']}/", "DELETE /api/v1/volumes/<id>/")


def processes(fleet):
    """{name: [pids]} of every fleet process and its descendants (uvicorn's and Celery's workers)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
    found = {}
    for proc in fleet["processes"]:
        if proc["name"].startswith("relay-"):
            continue  # socat forks one process per connection: not the portal's
        family, frontier = [proc["pid"]], [proc["pid"]]
        while frontier:
            frontier = [pid for pid, ppid in parents.items() if ppid in frontier]
            family += frontier
        found[proc["name"]] = family
    return found


def rss_mib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def memory(fleet):
    return {f"{name} {pid}": rss_mib(pid) for name, pids in processes(fleet).items() for pid in pids}


def setup(admin, fleet, actors):
    parsed = urlsplit(fleet["url"])
    if parsed.hostname not in LOOPBACK:
        raise SystemExit(f"the fleet answers on {parsed.hostname}, not loopback: not loading it")
    Shared.url, Shared.session = fleet["url"], admin.http.cookies["sessionid"]
    Shared.token = admin.api.headers["Authorization"].split()[1]
    tag = uuid.uuid4().hex[:6]
    Shared.projects = [
        admin.call("POST", "projects/", expect=201, json={"name": f"load-{tag}-{i}"}).json()["id"]
        for i in range(max(1, actors))
    ]
    Shared.pool = next(p for p in admin.items("storage-pools/?page_size=100") if p["name"] == "nubes-shared")["id"]
    flavor = next(f for f in admin.items("flavors/?page_size=100") if f["name"] == "lab.tiny")
    image = next(i for i in admin.items("images/?page_size=100") if i["name"] == "lab-guest")
    body = {"project": Shared.projects[0], "name": "load-page", "flavor": flavor["id"], "image": image["id"]}
    Shared.instance = admin.succeeded(admin.action("POST", "instances/", json=body))["target_id"]


def teardown(admin):
    admin.wait(admin.action("DELETE", f"instances/{Shared.instance}/"))
    for project in Shared.projects:
        if admin.call("DELETE", f"projects/{project}/").status_code == 409:
            admin.wait(admin.action("POST", f"projects/{project}/purge/"))


def report(env, elapsed, before, minute, after):
    used = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"\nload average at the end {os.getloadavg()[0]:.1f} (2 cores: other work on the machine counts); "
        f"this load generator used {(used.ru_utime + used.ru_stime) / elapsed:.0%} of a core"
    )
    print(f"\n{'endpoint':<44} {'reqs':>6} {'errs':>5} {'req/s':>6} {'p50':>6} {'p95':>6} {'p99':>6}  (ms)")
    for entry in sorted(env.stats.entries.values(), key=lambda e: (e.method, e.name)):
        pct = entry.get_response_time_percentile
        print(
            f"{entry.method + ' ' + entry.name if entry.method == 'WS' else entry.name:<44} {entry.num_requests:>6} "
            f"{entry.num_failures:>5} {entry.num_requests / elapsed:>6.1f} {pct(0.5):>6.0f} {pct(0.95):>6.0f} {pct(0.99):>6.0f}"
        )
    total = env.stats.total
    print(
        f"{'all':<44} {total.num_requests:>6} {total.num_failures:>5} {total.num_requests / elapsed:>6.1f} "
        f"{total.get_response_time_percentile(0.5):>6.0f} {total.get_response_time_percentile(0.95):>6.0f} "
        f"{total.get_response_time_percentile(0.99):>6.0f}"
    )
    for error in list(env.stats.errors.values())[:10]:
        print(f"  error x{error.occurrences}: {error.method} {error.name}: {str(error.error)[:160]}")
    print(f"\n{'process (RSS MiB)':<30} {'start':>8} {'minute 1':>9} {'end':>8} {'1 -> end':>9}")
    for name in after:
        first = minute.get(name) or after[name]
        growth = 100 * (after[name] - first) / first if first else 0.0
        print(f"{name:<30} {before.get(name, 0):>8.0f} {first:>9.0f} {after[name]:>8.0f} {growth:>+8.1f}%")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--actors", type=int, default=5)
    parser.add_argument("--run-time", type=int, default=300, help="seconds of load")
    args = parser.parse_args()
    fleet = fleet_or_say()
    if fleet is None:
        return
    admin = sign_in_admin(fleet)
    setup(admin, fleet, args.actors)
    Reader.host = Actor.host = fleet["url"]
    Actor.fixed_count = args.actors
    env = Environment(user_classes=[Reader, Actor], events=events)
    runner = env.create_local_runner()
    users = args.readers + args.actors
    print(
        f"{args.readers} readers + {args.actors} actors on {fleet['url']} for {args.run_time} s "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    before = memory(fleet)
    try:
        runner.start(users, spawn_rate=max(1, users / 10))
        started = time.monotonic()
        gevent.sleep(min(FIRST_MINUTE_S, args.run_time))
        minute = memory(fleet)
        gevent.sleep(max(0, args.run_time - FIRST_MINUTE_S))
        runner.quit()
        elapsed = time.monotonic() - started
        after = memory(fleet)
        report(env, elapsed, before, minute, after)
    finally:
        teardown(admin)


if __name__ == "__main__":
    main()
