"""Under the ASGI server (uvicorn, as `make run` and production serve the portal) a raw upload
reaches the view while the client is still sending it: Django alone would read the whole body
first, spooling it to the web node's disk, and only then run the view. The proof: the upload's
Operation is running, and has taken the first bytes, before the client has sent the rest."""

import socket
import threading
import time

import pytest
import uvicorn

import hypervisor as hv
from portal.models import ApiToken, Operation
from portal.streaming import streams
from tests.browser.conftest import free_port
from tests.storage.conftest import GIB, reload

MIB = 1 << 20
BODY = 4 * MIB


@pytest.fixture(autouse=True)
def no_kept_data(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    hv.forget_simulated_data()
    yield
    hv.forget_simulated_data()


@pytest.fixture
def server(transactional_db):
    """The portal's ASGI application under uvicorn in a thread of this process (as runportal)."""
    port = free_port()
    config = uvicorn.Config("portal.asgi:application", host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    web = uvicorn.Server(config)
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not web.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield port
    web.should_exit = True
    thread.join(10)


def qcow2(size):
    header = b"QFI\xfb" + bytes(20) + GIB.to_bytes(8, "big")
    return header + b"\x5a" * (size - len(header))


def start_upload(port, volume, token, body):
    """Headers and the first MiB of the body; returns the open socket."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        f"PUT /api/v1/volumes/{volume.pk}/upload/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    conn.sendall(head.encode() + body[:MIB])
    return conn


# A bound for "it never happens", not a speed: CI runs the PostgreSQL suite at nice 19 beside the
# lab, where 20 s of wall time was once not enough for a disconnect to be noticed and recorded.
WAIT_S = 90


def wait_for(predicate, what, seconds=WAIT_S):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"{what} did not happen within {seconds} s")


def running_upload():
    return Operation.objects.filter(kind="volume.upload", status="running").first()


def test_a_raw_put_is_recognised_and_other_requests_are_not():
    raw = [(b"content-type", b"application/octet-stream")]
    assert streams({"type": "http", "method": "PUT", "headers": raw})
    assert not streams({"type": "http", "method": "POST", "headers": raw})
    assert not streams({"type": "http", "method": "PUT", "headers": [(b"content-type", b"application/json")]})
    assert streams({"type": "http", "method": "PUT", "headers": []})  # curl -T sends no type


def test_the_view_runs_while_the_client_is_still_sending(server, alice, make_volume):
    volume, body = make_volume(size_gb=1), qcow2(BODY)
    conn = start_upload(server, volume, ApiToken.issue(alice, "upload")[1], body)
    with conn:
        op = wait_for(running_upload, "the upload's Operation starting before the whole body was sent")
        assert Operation.objects.get(pk=op.pk).status == "running"
        conn.sendall(body[MIB:])
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 202"), answer[:300]
    op.refresh_from_db()
    assert op.status == "succeeded", op.error
    assert reload(volume).state == "available"


def test_a_client_gone_mid_body_fails_the_upload_and_changes_nothing(server, alice, make_volume):
    volume = make_volume(size_gb=1)
    old_name = volume.libvirt_name
    conn = start_upload(server, volume, ApiToken.issue(alice, "upload")[1], qcow2(BODY))
    op = wait_for(running_upload, "the upload starting")
    conn.close()
    wait_for(lambda: Operation.objects.get(pk=op.pk).status == "failed", "the cut-off upload failing")
    op.refresh_from_db()
    assert "cut off" in op.error or "cut off" in op.message, (op.error, op.message)
    volume = reload(volume)
    assert volume.state == "available" and volume.libvirt_name == old_name
