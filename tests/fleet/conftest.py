"""The fleet tier: the portal as production runs it on the lab (`make lab-fleet`: uvicorn with two
workers, beat, two Celery workers in their own mount namespaces, one of them in host B's network
namespace, PostgreSQL and Redis), driven only from outside: HTTP, websockets, virsh on the hosts.
Nothing here imports Django or the portal's code. Skipped, with the reason printed, when the
fleet is not up."""

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("NUBES_LAB_STATE") or ROOT / "lab" / "state")
FLEET_JSON = STATE / "fleet" / "fleet.json"
OPERATION_TIMEOUT_S = 240
POLL_S = 0.5
MAX_SOCKET_TRIES = 40  # connections opened to find both uvicorn workers
DONE = ("succeeded", "failed", "cancelled")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.fleet)


@pytest.fixture(scope="session")
def fleet():
    if not FLEET_JSON.exists():
        pytest.skip(f"the fleet is not up ({FLEET_JSON} absent): run `make lab` then `make lab-fleet` as root")
    data = json.loads(FLEET_JSON.read_text())
    ready = requests.get(f"{data['url']}/readyz", timeout=10)
    assert ready.status_code == 200, f"the fleet is recorded as up but not ready: {ready.text}"
    data["lab"] = json.loads(Path(data["lab_json"]).read_text())
    return data


class Portal:
    """The fleet's portal over HTTP as one signed-in user: a session (for websockets) and an API token."""

    def __init__(self, url, username, password):
        self.url = url
        self.http = requests.Session()
        self.http.get(f"{url}/login/", timeout=30).raise_for_status()
        answer = self.http.post(
            f"{url}/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": self.http.cookies["csrftoken"]},
            headers={"Referer": f"{url}/login/"},
            allow_redirects=False,
            timeout=30,
        )
        assert answer.status_code == 302 and "sessionid" in self.http.cookies, f"sign-in failed: {answer.status_code}"
        made = self.http.post(
            f"{url}/api/v1/tokens/",
            json={"name": f"fleet-tier-{uuid.uuid4().hex[:6]}", "expires_in_days": 1},
            headers={"X-CSRFToken": self.http.cookies["csrftoken"], "Referer": url},
            timeout=30,
        )
        assert made.status_code == 201, made.text
        self.api = requests.Session()
        self.api.headers["Authorization"] = f"Bearer {made.json()['token']}"

    def call(self, method, path, expect=None, **kwargs):
        response = self.api.request(method, f"{self.url}/api/v1/{path.lstrip('/')}", timeout=60, **kwargs)
        if expect is not None:
            assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text[:2000]}"
        return response

    def get(self, path):
        return self.call("GET", path, expect=200).json()

    def items(self, path):
        """Every row of a list, across pages."""
        rows, page = [], self.get(path)
        while True:
            rows += page["results"]
            if not page.get("next"):
                return rows
            page = self.api.get(page["next"], timeout=60).json()

    def action(self, method, path, **kwargs):
        """A call answered 202 with an Operation; returns the Operation."""
        return self.call(method, path, expect=202, **kwargs).json()

    def wait(self, op, timeout=OPERATION_TIMEOUT_S):
        """Poll the Operation until it ends; returns its last state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            op = self.get(f"operations/{op['id']}/")
            if op["status"] in DONE:
                return op
            time.sleep(POLL_S)
        raise AssertionError(f"operation {op['id']} ({op['kind']}) still {op['status']} after {timeout}s")

    def succeeded(self, op, timeout=OPERATION_TIMEOUT_S):
        op = self.wait(op, timeout)
        assert op["status"] == "succeeded", f"{op['kind']} {op['status']}: {op['error'] or op['message']}"
        return op

    def socket(self):
        """A websocket to /ws/ with this user's session; `.process` is the server process serving it."""
        ws_url = self.url.replace("http://", "ws://") + "/ws/"
        sock = connect(
            ws_url,
            additional_headers={"Cookie": f"sessionid={self.http.cookies['sessionid']}", "Origin": self.url},
            open_timeout=30,
            legacy=True,  # held across tests, not in a with block
        )
        sock.process = sock.response.headers.get("x-nubes-process")
        return sock


def subscribe(sock, group):
    """Join `group`; messages of groups joined before that arrive meanwhile are dropped."""
    sock.send(json.dumps({"action": "subscribe", "group": group}))
    answer = {}
    while answer.get("event") not in ("subscribed", "denied", "error"):
        answer = json.loads(sock.recv(timeout=30))
    assert answer == {"event": "subscribed", "group": group}, answer


def drain(sock, until, timeout):
    """Messages received until `until(messages)` is true or `timeout` seconds pass."""
    messages, deadline = [], time.monotonic() + timeout
    while not until(messages):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            messages.append(json.loads(sock.recv(timeout=left)))
        except TimeoutError:
            break
    return messages


@pytest.fixture(scope="session")
def admin(fleet):
    password = Path(fleet["admin"]["password_file"]).read_text().strip()
    return Portal(fleet["url"], fleet["admin"]["username"], password)


@pytest.fixture(scope="session")
def project(admin):
    """A project of the tier's own, removed (with anything left in it) at the end."""
    made = admin.call("POST", "projects/", expect=201, json={"name": f"fleet-{uuid.uuid4().hex[:6]}"}).json()
    yield made
    if admin.call("DELETE", f"projects/{made['id']}/").status_code == 409:
        admin.wait(admin.action("POST", f"projects/{made['id']}/purge/"))


@pytest.fixture(scope="session")
def hosts(admin, fleet):
    """The lab's hosts as the fleet registered them: {name: host row}, every one by a network URI."""
    rows = {row["name"]: row for row in admin.items("hosts/?page_size=100")}
    return {spec["name"]: rows[spec["name"]] for spec in fleet["lab"]["hosts"]}


@pytest.fixture(scope="session")
def two_sockets(admin, fleet):
    """Two websockets served by the two different uvicorn worker processes."""
    workers = set(map(str, fleet["web_worker_pids"]))
    kept, spare = {}, []
    for _ in range(MAX_SOCKET_TRIES):
        sock = admin.socket()
        assert sock.process in workers, f"served by {sock.process}, not one of uvicorn's workers {workers}"
        if sock.process in kept:
            spare.append(sock)
        else:
            kept[sock.process] = sock
        if len(kept) == 2:
            break
    for sock in spare:
        sock.close()
    assert len(kept) == 2, f"{MAX_SOCKET_TRIES} connections all went to uvicorn worker {set(kept)}"
    yield list(kept.values())
    for sock in kept.values():
        sock.close()


def virsh(uri, *args):
    result = subprocess.run(["virsh", "-q", "-c", uri, *args], capture_output=True, text=True, timeout=60)
    return result.stdout


def domains(uri):
    return set(virsh(uri, "list", "--all", "--name").split())
