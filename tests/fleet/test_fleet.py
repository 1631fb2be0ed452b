"""The fleet end to end, from outside: a guest launched on each host through the API with a key
pair and user data (its seed delivered to its host over libvirt), its progress over websockets held by both uvicorn workers (the Celery worker that ran the launch
publishes through Redis); live migration A -> B -> A with progress; a websocket and Chromium on a
volume's page quiet for 30 s that still receive its resize live, then the volume downloaded;
everything deleted, and virsh on both
hosts agreeing with the API. One guest per host for the whole module (TCG guests are slow to boot)."""

import json
import re
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.fleet.client import drain, subscribe
from tests.fleet.conftest import domains, virsh, web_workers

HEARTBEAT_TIMEOUT_S = 120
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGp4T9wZ8e0n7dW3v0yQm6b1H2d8J2x4Q3k7cJ9g5Vtl fleet@tier"
SEED_POOL = "nubes-shared"  # the lab guest's root disk pool: the seed volume is made beside it
MIGRATION_BANDWIDTH_MIB_S = 25  # a few seconds per move: several progress polls
QUIET_S = 30
PROCESS = "x-nubes-process"
MESSAGE_TIMEOUT_S = 60


def one(rows, name):
    found = [row for row in rows if row["name"] == name]
    assert found, f"{name} not registered on the fleet"
    return found[0]


def heartbeats(path):
    try:
        return [int(n) for n in re.findall(r"nubes-heartbeat (\d+)", Path(path).read_text(errors="replace"))]
    except FileNotFoundError:
        return []


def wait_for_heartbeat(path, after=0):
    deadline = time.monotonic() + HEARTBEAT_TIMEOUT_S
    while time.monotonic() < deadline:
        beats = heartbeats(path)
        if beats and beats[-1] > after:
            return beats[-1]
        time.sleep(0.5)
    raise AssertionError(f"no heartbeat in {path} within {HEARTBEAT_TIMEOUT_S}s")


def finished(op_ids):
    """until(): every Operation of op_ids has had its final message."""

    def until(messages):
        done = {
            m["data"]["id"] for m in messages if m.get("event") == "operation" and m["data"]["status"] == "succeeded"
        }
        return set(op_ids) <= done

    return until


@pytest.fixture(scope="module")
def guests(admin, project, hosts, fleet, two_sockets):
    """One lab guest launched on each host while both websockets follow the project; yields
    {"a": instance, "b": instance, "ops": [...], "messages": {process: [...]}}; deletes leftovers."""
    for sock in two_sockets:
        subscribe(sock, f"project.{project['id']}")
    flavor = one(admin.items("flavors/?page_size=100"), "lab.tiny")
    image = one(admin.items("images/?page_size=100"), "lab-guest")
    names = [spec["name"] for spec in fleet["lab"]["hosts"]]
    key = admin.call(
        "POST", "keypairs/", expect=201, json={"project": project["id"], "name": "fleet-key", "public_key": PUBLIC_KEY}
    ).json()
    marker = f"nubes-fleet-marker-{uuid.uuid4().hex[:8]}"
    ops = [
        admin.action(
            "POST",
            "instances/",
            json={
                "project": project["id"],
                "name": f"fleet-{which}-{uuid.uuid4().hex[:4]}",
                "flavor": flavor["id"],
                "image": image["id"],
                "host": hosts[name]["id"],
                "key_pair": key["id"],
                "user_data": f"#cloud-config\nruncmd:\n  - echo {marker}\n",
            },
        )
        for which, name in zip("ab", names, strict=True)
    ]
    messages = {sock.process: drain(sock, finished([op["id"] for op in ops]), 300) for sock in two_sockets}
    ops = [admin.wait(op) for op in ops]
    made = {which: admin.get(f"instances/{op['target_id']}/") for which, op in zip("ab", ops, strict=True)}
    yield {
        **made,
        "ops": ops,
        "messages": messages,
        "marker": marker,
        "serial": fleet["lab"]["guest"]["serial_log_dir"],
    }
    for instance in made.values():
        if admin.call("GET", f"instances/{instance['id']}/").status_code == 200:
            admin.wait(admin.action("DELETE", f"instances/{instance['id']}/"))


def serial_log(guests, instance):
    return f"{guests['serial']}/{instance['domain_name']}-serial.log"


def test_a_guest_launches_on_each_host_with_progress_on_both_web_workers(guests, hosts, fleet):
    for op in guests["ops"]:
        assert op["status"] == "succeeded", f"{op['kind']}: {op['error'] or op['message']}"
    assert len(guests["messages"]) == 2, "the two sockets were served by two processes"
    for process, messages in guests["messages"].items():
        for op in guests["ops"]:
            seen = [m["data"] for m in messages if m["event"] == "operation" and m["data"]["id"] == op["id"]]
            assert seen and seen[-1]["status"] == "succeeded", f"uvicorn worker {process} missed operation {op['id']}"
            assert any(s["status"] == "running" for s in seen), f"worker {process}: no progress of {op['id']}"
    for which, name in zip("ab", [spec["name"] for spec in fleet["lab"]["hosts"]], strict=True):
        instance = guests[which]
        assert instance["state"] == "active" and instance["host"] == hosts[name]["id"]
        uri = hosts[name]["uri"]
        assert uri.startswith("qemu+tcp://"), f"{name} registered by {uri}, not a network URI"
        assert virsh(uri, "domstate", instance["domain_name"]).strip() == "running"
        wait_for_heartbeat(serial_log(guests, instance))


def seed_volumes(uri, domain_name):
    virsh(uri, "pool-refresh", SEED_POOL)
    return [line.split()[0] for line in virsh(uri, "vol-list", SEED_POOL).splitlines() if domain_name in line]


def test_each_guest_boots_with_its_key_and_user_data_delivered_to_its_host(guests, hosts, fleet, tmp_path):
    """The seed (NoCloud ISO) went over the libvirt connection into the root disk's pool on the
    guest's own host, and the domain runs with it as its cdrom. Read back with virsh."""
    for which, spec in zip("ab", fleet["lab"]["hosts"], strict=True):
        instance, uri = guests[which], hosts[spec["name"]]["uri"]
        seed = f"{instance['domain_name']}-seed.iso"
        assert seed in seed_volumes(uri, instance["domain_name"]), f"no seed volume on {spec['name']}"
        copy = tmp_path / seed
        virsh(uri, "vol-download", seed, str(copy), "--pool", SEED_POOL)
        data = copy.read_bytes()
        assert guests["marker"].encode() in data and PUBLIC_KEY.encode() in data, f"{seed}: not this guest's seed"
        xml = virsh(uri, "dumpxml", instance["domain_name"])
        assert "device='cdrom'" in xml and seed in xml, f"{instance['name']} runs without its seed"


def test_the_serial_console_of_each_guest_streams_its_heartbeat(admin, guests):
    """The console websocket (served by a web process) shows the guest's serial output, then
    follows it live: a heartbeat newer than any in the backlog it sent first."""
    for which in "ab":
        instance, seen = guests[which], []
        with admin.socket(f"/ws/console/{instance['id']}/") as sock:
            deadline = time.monotonic() + HEARTBEAT_TIMEOUT_S
            while time.monotonic() < deadline and not (
                len(seen) > 1 and max(seen[-1], default=-1) > max(seen[0], default=-1)
            ):
                message = json.loads(sock.recv(timeout=HEARTBEAT_TIMEOUT_S))
                assert message["kind"] == "output", message
                seen.append([int(n) for n in re.findall(r"nubes-heartbeat (\d+)", message["text"])])
        backlog, latest = max(seen[0], default=-1), max(seen[-1], default=-1)
        assert latest > backlog, f"{instance['name']}: no live heartbeat after the backlog's {backlog}"


def test_typing_into_the_serial_console_of_the_guest_on_host_b(admin, guests):
    """Input over the console websocket goes into the guest on host B through the libvirt
    connection's console stream; the guest's tty echoes it, and the echo comes back in the
    output (the serial log). The lab guest runs no shell: its kernel's echo is the answer."""
    token = f"nubes-typed-{uuid.uuid4().hex[:8]}"
    instance, text = guests["b"], ""
    with admin.socket(f"/ws/console/{instance['id']}/") as sock:
        start = time.monotonic()
        sock.send(json.dumps({"input": token + "\r"}))
        while token not in text and time.monotonic() - start < MESSAGE_TIMEOUT_S:
            message = json.loads(sock.recv(timeout=MESSAGE_TIMEOUT_S))
            assert message["kind"] == "output", message
            text += message["text"]
        took = time.monotonic() - start
    assert token in text, f"{instance['name']}: no echo of the typed line in {text[-500:]!r}"
    print(f"\nserial input on host B echoed in {took:.1f} s")


def test_the_vnc_console_of_the_guest_on_host_b_in_chromium(guests, fleet, page):
    """noVNC on the instance page, through the portal's websocket proxy to QEMU's VNC server on
    host B: the RFB handshake completes (noVNC's connect event, QEMU's desktop name) and a
    framebuffer update reaches the canvas (noVNC's canvas starts transparent; drawn pixels are
    opaque)."""
    instance = guests["b"]
    sign_in(page, fleet)
    page.goto(f"{fleet['url']}/compute/instances/{instance['id']}/")
    panel = page.locator("#vnc")
    expect(panel).to_have_attribute("data-vnc-state", "ready")
    start = time.monotonic()
    page.click("#vnc-open")
    expect(panel).to_have_attribute("data-vnc-state", "connected", timeout=MESSAGE_TIMEOUT_S * 1000)
    connected = time.monotonic() - start
    expect(page.locator("#vnc-status")).to_contain_text(instance["domain_name"])
    page.wait_for_function(
        """() => { const c = document.querySelector('#vnc-screen canvas');
        if (!c || !c.width || !c.height) return false;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4 * 61) if (d[i] === 255) return true;
        return false; }""",
        timeout=MESSAGE_TIMEOUT_S * 1000,
    )
    drawn = time.monotonic() - start
    size = page.locator("#vnc-screen canvas").evaluate("c => [c.width, c.height]")
    assert size[0] > 0 and size[1] > 0, size
    print(f"\nVNC of {instance['name']} on host B: connected in {connected:.1f} s, first frame {drawn:.1f} s, {size}")
    page.click("#vnc-close")
    expect(panel).to_have_attribute("data-vnc-state", "disconnected")


def migrate(admin, instance, target):
    return admin.action(
        "POST",
        "migrations/",
        json={
            "instance": instance["id"],
            "target_host": target["id"],
            "live": True,
            "bandwidth_mib_s": MIGRATION_BANDWIDTH_MIB_S,
        },
    )


def sign_in(page, fleet):
    page.goto(f"{fleet['url']}/login/")
    page.fill("input[name=username]", fleet["admin"]["username"])
    page.fill("input[name=password]", Path(fleet["admin"]["password_file"]).read_text().strip())
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def watch_in_browser(page, fleet, instance):
    """Sign the browser in, open the instance's page and note its websocket's server process and
    every migration event the page receives."""
    processes = []
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.on(
        "Network.webSocketHandshakeResponseReceived",
        lambda event: processes.append({k.lower(): v for k, v in event["response"]["headers"].items()}.get(PROCESS)),
    )
    sign_in(page, fleet)
    page.goto(f"{fleet['url']}/compute/instances/{instance['id']}/")
    page.evaluate(
        """() => { window.seen = [];
        for (const kind of ["migration", "migration.progress"])
          document.addEventListener("nubes:" + kind, (e) => window.seen.push(e.detail)); }"""
    )
    page.wait_for_function(
        "(group) => (document.body.dataset.wsSubscribed || '').split(' ').includes(group)", arg=instance["group"]
    )
    return processes


def test_live_migration_a_to_b_and_back_with_progress_on_websockets_and_in_a_browser(
    admin, guests, hosts, fleet, two_sockets, page
):
    host_a, host_b = (hosts[spec["name"]] for spec in fleet["lab"]["hosts"])
    guest = {**guests["a"], "group": f"compute.instance.{guests['a']['id']}"}
    for sock in two_sockets:
        subscribe(sock, guest["group"])
    browser_processes = watch_in_browser(page, fleet, guest)
    before = wait_for_heartbeat(serial_log(guests, guest))
    for target in (host_b, host_a):
        admin.succeeded(migrate(admin, guest, target))
    both_done = lambda ms: [m["data"]["state"] for m in ms if m["event"] == "migration"].count("succeeded") >= 2  # noqa: E731
    received = {sock.process: drain(sock, both_done, MESSAGE_TIMEOUT_S) for sock in two_sockets}
    page.wait_for_function(
        "() => window.seen.filter((m) => m.event === 'migration' && m.data.state === 'succeeded').length >= 2"
    )
    received["browser"] = page.evaluate("() => window.seen")
    # The login page's socket (anonymous) is accepted only to be closed with 4401, without the header.
    served = {process for process in browser_processes if process}
    assert served and served <= web_workers(fleet), browser_processes
    for who, messages in received.items():
        progress = [m["data"] for m in messages if m["event"] == "migration.progress"]
        assert any(0 < p["percent"] < 100 for p in progress), f"{who}: no progress: {messages[-5:]}"
        assert len({p["migration"] for p in progress}) == 2, f"{who}: progress of both moves"
        assert both_done(messages), f"{who}: {[m['data']['state'] for m in messages if m['event'] == 'migration']}"
    assert page.locator(".migration-live [data-mfield=state]").inner_text().strip().lower() == "succeeded"
    assert admin.get(f"instances/{guest['id']}/")["host"] == host_a["id"]
    assert virsh(host_a["uri"], "domstate", guest["domain_name"]).strip() == "running"
    assert guest["domain_name"] not in domains(host_b["uri"])
    assert wait_for_heartbeat(serial_log(guests, guest), after=before) > before, "the guest kept running"


# Before the page's own scripts: every websocket the page opens is counted, with its messages and
# whether it closed (per page load; a reload starts a new count).
COUNT_SOCKETS = """(() => {
  const Native = window.WebSocket;
  window.nubesSockets = [];
  function Counted(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    const seen = {url: String(url), closed: false, messages: []};
    ws.addEventListener("close", () => { seen.closed = true; });
    ws.addEventListener("message", (m) => { seen.messages.push(JSON.parse(m.data)); });
    window.nubesSockets.push(seen);
    return ws;
  }
  Counted.prototype = Native.prototype;
  for (const name of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Counted[name] = Native[name];
  window.WebSocket = Counted;
})();"""


def quiet_page(page, fleet, project, volume):
    """The browser on the volume's page with `project` as its current project (chosen with the
    switcher on another page first), subscribed to that project's group."""
    sign_in(page, fleet)
    with page.expect_navigation():
        page.select_option(".project-switch select[name=project]", str(project["id"]))
    page.add_init_script(COUNT_SOCKETS)
    page.goto(f"{fleet['url']}/storage/volumes/{volume}/")
    # Every group the page joins (a cloud admin's page joins `cloud` too, <body data-cloud>), so
    # no late "subscribed" reaches the page once its quiet time has begun.
    page.wait_for_function(
        """(group) => {
            const joined = (document.body.dataset.wsSubscribed || '').split(' ');
            return joined.includes(group) && (!('cloud' in document.body.dataset) || joined.includes('cloud'));
        }""",
        arg=f"project.{project['id']}",
    )
    page.evaluate("() => { window.nubesLoaded = 'the page loaded once'; }")


def page_sockets(page):
    return page.evaluate("() => window.nubesSockets")


def test_a_websocket_and_a_browser_quiet_for_30_s_still_receive(admin, fleet, page):
    """On the Redis channel layer a socket with nothing to say must stay open (issue 20): a
    websocket of the test's and Chromium on a volume's page follow a new, empty project for 30 s
    (uvicorn, Redis channel layer), then the volume grows: both receive its Operation, the page
    shows the new size without reload, on the socket it opened first. Then the volume is
    downloaded and everything removed."""
    quiet = admin.call("POST", "projects/", expect=201, json={"name": f"fleet-quiet-{uuid.uuid4().hex[:4]}"}).json()
    pool = one(admin.items("storage-pools/?page_size=100"), "nubes-shared")
    volume = admin.succeeded(
        admin.action(
            "POST", "volumes/", json={"project": quiet["id"], "name": "quiet", "pool": pool["id"], "size_gb": 1}
        )
    )["target_id"]
    try:
        group = f"project.{quiet['id']}"
        quiet_page(page, fleet, quiet, volume)
        with admin.socket() as sock:
            subscribe(sock, group)
            before = page_sockets(page)
            assert drain(sock, lambda messages: False, QUIET_S) == [], "the project was not quiet"
            assert page_sockets(page) == before, f"the page was not quiet: {page_sockets(page)}"
            op = admin.action("POST", f"volumes/{volume}/resize/", json={"size_gb": 2})
            messages = drain(sock, finished([op["id"]]), MESSAGE_TIMEOUT_S)
        assert finished([op["id"]])(messages), (
            f"after {QUIET_S} s quiet, no message of operation {op['id']}: {messages}"
        )
        admin.succeeded(op)
        page.locator("#volume-facts dd", has_text="2 GiB").wait_for(timeout=MESSAGE_TIMEOUT_S * 1000)
        assert page.evaluate("() => window.nubesLoaded") == "the page loaded once", "the page was reloaded"
        # The page's one socket, opened before the quiet time, still open, carried the update.
        (held,) = page_sockets(page)
        assert not held["closed"] and {"event": "subscribed", "group": group} in held["messages"], held
        assert [m for m in held["messages"] if m.get("event") == "operation" and m["data"]["id"] == op["id"]], (
            f"the resize did not come on the page's socket: {held['messages'][-5:]}"
        )
        response = admin.call("GET", f"volumes/{volume}/download/", expect=200, stream=True)
        size = int(response.headers["Content-Length"])
        received = sum(len(chunk) for chunk in response.iter_content(1 << 20))
        assert received == size > 0
        admin.succeeded(admin.get(f"operations/{response.headers['X-Operation']}/"))
    finally:
        if admin.call("GET", f"volumes/{volume}/").status_code == 200:
            admin.succeeded(admin.action("DELETE", f"volumes/{volume}/"))
        admin.call("DELETE", f"projects/{quiet['id']}/", expect=204)


def test_everything_deleted_and_virsh_on_both_hosts_agrees_with_the_api(admin, project, guests, hosts):
    for op in [admin.action("DELETE", f"instances/{guests[which]['id']}/") for which in "ab"]:
        admin.succeeded(op)
    assert admin.items(f"instances/?project={project['id']}") == []
    listed = {row["domain_name"]: row["host"] for row in admin.items("instances/?page_size=500")}
    for host in hosts.values():
        present = domains(host["uri"])
        for which in "ab":
            name = guests[which]["domain_name"]
            assert name not in present, f"{guests[which]['name']} left on {host['name']}"
            assert seed_volumes(host["uri"], name) == [], f"volumes of {guests[which]['name']} left on {host['name']}"
        for name, host_id in listed.items():
            assert (name in present) == (host_id == host["id"]), (
                f"{name}: API says host {host_id}, virsh on {host['name']}"
            )
