"""The graphical console in the browser: noVNC (from npm) on the instance page, through the
portal's same-origin websocket proxy, to a VNC server.

No QEMU here: a tiny RFB 3.8 server in the test process stands in for the guest's VNC server
on 127.0.0.1, and a host registered as qemu:///system (left down, so the portal's periodic
tasks never ask libvirt about it) carries a running instance whose recorded VNC port is the fake
server's. Everything between the browser and that port is the real thing."""

import json
import os
import socket
import struct
import threading
import time

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from playwright.sync_api import expect

from tests.browser.conftest import ROOT

pytestmark = pytest.mark.browser
NOVNC = ROOT / "static" / "node_modules" / "@novnc" / "novnc" / "core" / "rfb.js"
LIVE_TIMEOUT_MS = 20000
ACCEPT_TIMEOUT_S = 30
EVENT_TIMEOUT_S = 10
POLL_S = 0.05

RFB_VERSION = b"RFB 003.008\n"
SECURITY_VNC = 2
PASSWORD = "fakepass"  # REGISTER sets it; the portal's proxy answers with it, never the browser
WIDTH, HEIGHT = 64, 48
DESKTOP_NAME = b"nubes-fake-vnc"
COLOUR = (0x22, 0x88, 0xEE)  # what the one rectangle is painted with
# Server pixel format: 32 bpp, depth 24, little-endian, true colour, 8 bits a channel.
PIXEL_FORMAT = struct.pack(">BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)
# Client messages: type -> bytes after the type byte (ClientCutText and SetEncodings grow).
SET_PIXEL_FORMAT, SET_ENCODINGS, FB_UPDATE_REQUEST, KEY_EVENT, POINTER_EVENT, CUT_TEXT = 0, 2, 3, 4, 5, 6
FIXED_SIZES = {SET_PIXEL_FORMAT: 19, FB_UPDATE_REQUEST: 9, KEY_EVENT: 7, POINTER_EVENT: 5}
XK_CONTROL_L, XK_ALT_L, XK_DELETE = 0xFFE3, 0xFFE9, 0xFFFF


def vnc_response(password, challenge):
    """VNC Authentication as a server checks it: DES of the challenge, the key's bits mirrored."""
    key = bytes(int(bin(b)[2:].zfill(8)[::-1], 2) for b in password.encode()[:8].ljust(8, b"\0"))
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    return encryptor.update(challenge) + encryptor.finalize()


class FakeVncServer:
    """One RFB 3.8 client at a time: VNC Authentication with PASSWORD, a 64x48 desktop, a raw rectangle for each
    full (non-incremental) update request. Records what the client sent."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(ACCEPT_TIMEOUT_S)
        self.port = self.listener.getsockname()[1]
        self.events = []  # ("update-request", incremental) / ("key", keysym, down) / ...
        self.pixel_format = None
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def close(self):
        self.listener.close()

    def serve(self):
        try:
            conn, _ = self.listener.accept()
        except OSError:  # closed, or nobody came: the test's assertions say what was missing
            return
        with conn:
            try:
                self.session(conn)
            except ConnectionError:  # the browser disconnected
                pass

    @staticmethod
    def read(conn, n):
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ConnectionResetError("client closed")
            data += chunk
        return data

    def session(self, conn):
        conn.sendall(RFB_VERSION)
        self.events.append(("version", self.read(conn, len(RFB_VERSION))))
        conn.sendall(bytes([1, SECURITY_VNC]))
        self.events.append(("security", self.read(conn, 1)[0]))
        challenge = os.urandom(16)
        conn.sendall(challenge)
        if self.read(conn, 16) != vnc_response(PASSWORD, challenge):
            conn.sendall(struct.pack(">II", 1, 6) + b"denied")
            raise ConnectionAbortedError("wrong VNC password")
        self.events.append(("authenticated", True))
        conn.sendall(struct.pack(">I", 0))  # SecurityResult OK
        self.read(conn, 1)  # ClientInit (shared flag)
        conn.sendall(
            struct.pack(">HH", WIDTH, HEIGHT) + PIXEL_FORMAT + struct.pack(">I", len(DESKTOP_NAME)) + DESKTOP_NAME
        )
        while True:
            kind = self.read(conn, 1)[0]
            if kind in FIXED_SIZES:
                body = self.read(conn, FIXED_SIZES[kind])
            elif kind == SET_ENCODINGS:
                _pad, count = struct.unpack(">BH", self.read(conn, 3))
                self.read(conn, 4 * count)
                continue
            elif kind == CUT_TEXT:
                self.read(conn, struct.unpack(">3xI", self.read(conn, 7))[0])
                continue
            else:
                raise ConnectionAbortedError(f"unexpected client message {kind}")
            if kind == SET_PIXEL_FORMAT:
                self.pixel_format = body[3:19]
            elif kind == FB_UPDATE_REQUEST:
                incremental = bool(body[0])
                self.events.append(("update-request", incremental))
                if not incremental:
                    conn.sendall(self.frame())
            elif kind == KEY_EVENT:
                down, keysym = struct.unpack(">B2xI", body)
                self.events.append(("key", keysym, bool(down)))

    def frame(self):
        """One raw rectangle covering the desktop, in the pixel format the client asked for."""
        bpp, _depth, big_endian, _true, rmax, gmax, bmax, rshift, gshift, bshift = struct.unpack(
            ">BBBBHHHBBB", (self.pixel_format or PIXEL_FORMAT)[:13]
        )
        assert bpp == 32 and (rmax, gmax, bmax) == (255, 255, 255)
        r, g, b = COLOUR
        pixel = (r << rshift | g << gshift | b << bshift).to_bytes(4, "big" if big_endian else "little")
        header = struct.pack(">BxH", 0, 1) + struct.pack(">HHHHi", 0, 0, WIDTH, HEIGHT, 0)  # raw encoding
        return header + pixel * (WIDTH * HEIGHT)


# Registers a qemu:///system host (down: the beat's reconciler and collectors skip it) and a
# running instance in alice's project with the fake server's port; prints the instance's id.
REGISTER = """
import json
from compute.choices import HostState, InstanceState, PowerState
from compute.models import Cluster, Flavor, Host, Image, Instance
from portal.models import Project
cluster, _ = Cluster.objects.get_or_create(name="vnc-lab")
host, _ = Host.objects.get_or_create(uri="qemu:///system", defaults=dict(
    name="vnc-lab-a", cluster=cluster, state=HostState.DOWN, simulated=False,
    state_reason="registered by the browser test; no libvirt behind it"))
flavor = Flavor.objects.order_by("ram_mb").first()
instance = Instance(project=Project.objects.get(name="acme"), name="vnc-desktop", flavor=flavor,
                    image=Image.objects.first(), host=host, vcpus=flavor.vcpus, ram_mb=flavor.ram_mb,
                    disk_gb=flavor.disk_gb, state=InstanceState.ACTIVE, power_state=PowerState.RUNNING,
                    vnc_port=PORT)
instance.set_vnc_password("fakepass")
instance.save()
print(json.dumps({"id": instance.pk}))
"""


@pytest.fixture
def vnc_server():
    server = FakeVncServer()
    yield server
    server.close()


@pytest.fixture
def desktop(portal_shell, vnc_server):
    if not NOVNC.exists():
        pytest.skip("noVNC is not installed: `make static-deps` (needs npm)")
    out = portal_shell(REGISTER.replace("PORT", str(vnc_server.port)))
    return json.loads(out.strip().splitlines()[-1])["id"]


def keys_seen(server, wanted):
    """The (keysym, down) pairs the server has received, once they include ``wanted`` or time is up."""
    deadline = time.monotonic() + EVENT_TIMEOUT_S
    while True:
        keys = {(event[1], event[2]) for event in list(server.events) if event[0] == "key"}
        if wanted <= keys or time.monotonic() > deadline:
            return keys
        time.sleep(POLL_S)


def pixel_at(page, x, y):
    return page.evaluate(
        "([x, y]) => Array.from(document.querySelector('#vnc-screen canvas').getContext('2d')"
        ".getImageData(x, y, 1, 1).data.slice(0, 3))",
        [x, y],
    )


def test_novnc_connects_through_the_portal_to_the_vnc_server(login, desktop, vnc_server):
    page = login("alice")
    page.goto(f"/compute/instances/{desktop}/")
    panel = page.locator("#vnc")
    expect(panel).to_have_attribute("data-vnc-state", "ready")
    page.click("#vnc-open")

    # noVNC's 'connect' event (after the handshake and ServerInit) sets the panel's state.
    expect(panel).to_have_attribute("data-vnc-state", "connected", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#vnc-status")).to_have_text(f"Connected to {DESKTOP_NAME.decode()}.")
    canvas = page.locator("#vnc-screen canvas")
    expect(canvas).to_be_visible()
    assert canvas.evaluate("c => [c.width, c.height]") == [WIDTH, HEIGHT]
    assert vnc_server.events[:3] == [("version", RFB_VERSION), ("security", SECURITY_VNC), ("authenticated", True)]
    # The server's rectangle reached the canvas.
    page.wait_for_function(
        "([x, y, rgb]) => { const c = document.querySelector('#vnc-screen canvas');"
        " const d = c.getContext('2d').getImageData(x, y, 1, 1).data;"
        " return d[0] === rgb[0] && d[1] === rgb[1] && d[2] === rgb[2]; }",
        arg=[WIDTH // 2, HEIGHT // 2, list(COLOUR)],
        timeout=LIVE_TIMEOUT_MS,
    )
    assert pixel_at(page, 0, 0) == list(COLOUR)
    assert ("update-request", False) in vnc_server.events

    # Keys go back through the proxy to the server.
    page.click("#vnc-cad")
    wanted = {(XK_CONTROL_L, True), (XK_ALT_L, True), (XK_DELETE, True), (XK_DELETE, False)}
    assert wanted <= keys_seen(vnc_server, wanted), keys_seen(vnc_server, wanted)

    page.click("#vnc-close")
    expect(panel).to_have_attribute("data-vnc-state", "disconnected")


# The same host as REGISTER; a stopped instance (no VNC port yet) in alice's project.
REGISTER_STOPPED = (
    REGISTER.replace('name="vnc-desktop"', 'name="vnc-later"')
    .replace(
        "state=InstanceState.ACTIVE, power_state=PowerState.RUNNING,",
        "state=InstanceState.SHUTOFF, power_state=PowerState.SHUTOFF,",
    )
    .replace("vnc_port=PORT", "vnc_port=None")
)
# What the start task writes (record_vnc_port, then set_state); ID and STATE filled in.
WRITE_STATE = """
from compute.choices import InstanceState, PowerState
from compute.models import Instance
instance = Instance.objects.get(pk=ID)
instance.state, instance.power_state, instance.vnc_port = STATE
instance.save()
"""


def test_the_console_panel_opens_when_the_instance_starts_without_a_reload(login, portal_shell, vnc_server):
    if not NOVNC.exists():
        pytest.skip("noVNC is not installed: `make static-deps` (needs npm)")
    instance = json.loads(portal_shell(REGISTER_STOPPED).strip().splitlines()[-1])["id"]
    page = login("alice")

    # The portal publishes in its own process (in-memory channel layer) and no libvirt runs a
    # guest here, so the test writes the start's state and hands the page the instance message
    # the portal would publish (the API's serializer, as the tasks' publish) the way realtime.js
    # hands on every websocket message: a nubes:<event> document event. (Playwright's websocket
    # routing would replace the WebSocket class that noVNC then refuses.)
    def publish(state):
        portal_shell(WRITE_STATE.replace("ID", str(instance)).replace("STATE", state))
        data = page.request.get(f"/api/v1/instances/{instance}/").json()
        page.evaluate(
            "(m) => document.dispatchEvent(new CustomEvent('nubes:instance', {detail: m}))",
            {"event": "instance", "group": f"compute.instance.{instance}", "data": data},
        )

    page.goto(f"/compute/instances/{instance}/")
    panel = page.locator("#vnc")
    expect(panel).to_have_attribute("data-vnc-state", "refused")
    expect(page.locator("#vnc-message")).to_contain_text("opens while it runs")
    expect(page.locator("#vnc-open")).to_be_hidden()
    page.wait_for_function(f"() => (document.body.dataset.wsSubscribed || '').includes('compute.instance.{instance}')")
    page.evaluate("window.__noReload = true")

    publish(f"InstanceState.ACTIVE, PowerState.RUNNING, {vnc_server.port}")

    expect(page.locator("#instance-state")).to_have_text("Active")
    expect(panel).to_have_attribute("data-vnc-state", "ready")
    expect(page.locator("#vnc-message")).to_be_hidden()
    page.click("#vnc-open")
    expect(panel).to_have_attribute("data-vnc-state", "connected", timeout=LIVE_TIMEOUT_MS)

    publish("InstanceState.SHUTOFF, PowerState.SHUTOFF, None")

    expect(panel).to_have_attribute("data-vnc-state", "refused")
    expect(page.locator("#vnc-message")).to_contain_text("is shut off")
    expect(page.locator("#vnc-open")).to_be_hidden()
    page.wait_for_timeout(500)  # the connection's close must not overwrite the refusal
    expect(panel).to_have_attribute("data-vnc-state", "refused")
    assert page.evaluate("window.__noReload === true"), "the page reloaded instead of updating live"


# Before the page's scripts: what the page sends on its serial console socket.
RECORD_CONSOLE_INPUT = """(() => {
  const Native = window.WebSocket;
  window.consoleSent = [];
  function Recorded(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    if (String(url).includes("/ws/console/")) {
      const send = ws.send.bind(ws);
      ws.send = (data) => { window.consoleSent.push(JSON.parse(data)); send(data); };
    }
    return ws;
  }
  Recorded.prototype = Native.prototype;
  for (const name of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Recorded[name] = Native[name];
  window.WebSocket = Recorded;
})();"""


def test_keys_typed_on_the_serial_console_go_to_its_socket(login, portal_shell):
    """A member's serial console takes the keyboard (a terminal's bytes for Enter and Ctrl+C);
    a reader's page offers none (tests/compute/test_compute_pages.py) and the consumer refuses
    a reader's input (tests/compute/test_console.py)."""
    instance = json.loads(portal_shell(REGISTER_STOPPED).strip().splitlines()[-1])["id"]
    page = login("alice")
    page.add_init_script(RECORD_CONSOLE_INPUT)
    page.goto(f"/compute/instances/{instance}/")
    console = page.locator("#console")
    expect(console).to_have_attribute("data-console-input", "on")
    expect(console).to_contain_text("no serial log")  # the socket is open
    console.click()
    page.keyboard.type("ls")
    page.keyboard.press("Enter")
    page.keyboard.press("Control+c")
    page.wait_for_function("() => window.consoleSent.length >= 4")
    assert page.evaluate("() => window.consoleSent") == [
        {"input": "l"},
        {"input": "s"},
        {"input": "\r"},
        {"input": "\x03"},
    ]
