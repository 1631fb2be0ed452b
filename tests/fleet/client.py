"""A client of the fleet's portal from outside: HTTP (requests) and websockets (websockets'
sync client), nothing of Django. Used by the fleet tier and bench/fleet.py."""

import json
import os
import time
import uuid
from pathlib import Path

import requests
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("NUBES_LAB_STATE") or ROOT / "lab" / "state")
FLEET_JSON = STATE / "fleet" / "fleet.json"
OPERATION_TIMEOUT_S = 240
POLL_S = 0.5
DONE = ("succeeded", "failed", "cancelled")


def load_fleet():
    """fleet.json with the lab's lab.json under "lab"; None when the fleet is not up."""
    if not FLEET_JSON.exists():
        return None
    data = json.loads(FLEET_JSON.read_text())
    data["lab"] = json.loads(Path(data["lab_json"]).read_text())
    return data


def fleet_or_say():
    """load_fleet() for a benchmark: None, once it printed that it measures nothing, when not up."""
    fleet = load_fleet()
    if fleet is None:
        print("the fleet is not up (make lab && make lab-fleet, as root): measured nothing")
    return fleet


def sign_in_admin(fleet):
    password = Path(fleet["admin"]["password_file"]).read_text().strip()
    return Portal(fleet["url"], fleet["admin"]["username"], password)


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

    def socket(self, path="/ws/"):
        """A websocket to `path` with this user's session; `.process` is the server process serving it."""
        ws_url = self.url.replace("http://", "ws://") + path
        sock = connect(
            ws_url,
            additional_headers={"Cookie": f"sessionid={self.http.cookies['sessionid']}", "Origin": self.url},
            open_timeout=30,
            legacy=True,  # held across tests, not in a with block
            # No flow control: a socket nobody reads for a while (a test waiting on HTTP) would
            # otherwise stop reading at 16 frames, miss the pongs and die of its keepalive.
            max_queue=None,
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
