"""Under the ASGI server (uvicorn, as `make run` and production serve the portal) a volume
download reaches the client while it is still being read from the host, and a client that goes
away mid-way fails it. Django alone reads a streaming response's sync iterator whole into memory
first: the web process held the entire volume, and the download succeeded though its client left."""

import socket
import time

import pytest

import hypervisor as hv
from portal.models import ApiToken, Operation
from storage.hosts import volume_host
from tests.storage.conftest import GIB
from tests.storage.test_upload_streams_under_asgi import (  # noqa: F401 - fixtures
    MIB,
    no_kept_data,
    server,
    wait_for,
)

SIZE = 16 * MIB  # the most a simulated volume keeps; more than the sockets between uvicorn and the client hold


@pytest.fixture
def filled(make_volume):
    """A volume of SIZE bytes of data (its simulated file)."""
    volume = make_volume(size_gb=1)
    host = volume_host(volume)
    data = bytes(range(256)) * (SIZE // 256)
    hv.volume_create_streamed(
        host.uri, volume.pool.libvirt_name, volume.libvirt_name + "-d", iter([data]), SIZE, capacity=GIB, fmt="raw"
    )
    volume.libvirt_name += "-d"
    volume.save(update_fields=["libvirt_name"])
    return volume


def start_download(port, volume, token):
    """Sends the GET and reads the answer's head and its first bytes; returns (socket, head)."""
    conn = socket.socket()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # before connecting: a small window
    conn.settimeout(30)
    conn.connect(("127.0.0.1", port))
    conn.sendall(
        f"GET /api/v1/volumes/{volume.pk}/download/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += conn.recv(65536)
    return conn, head


def operation(head):
    line = next(x for x in head.split(b"\r\n") if x.lower().startswith(b"x-operation:"))
    return Operation.objects.get(pk=int(line.split(b":")[1]))


def test_the_first_bytes_arrive_while_the_volume_is_still_being_read(server, alice, filled):
    conn, head = start_download(server, filled, ApiToken.issue(alice, "download")[1])
    with conn:
        assert head.startswith(b"HTTP/1.1 200"), head[:300]
        op = operation(head)
        time.sleep(0.5)  # the client reads nothing more for a while: the stream waits for it
        op.refresh_from_db()
        assert op.status == "running" and op.progress < 100  # not read whole into the web process
        received = len(head.split(b"\r\n\r\n", 1)[1])
        while chunk := conn.recv(1 << 20):
            received += len(chunk)
    assert received == SIZE
    wait_for(lambda: Operation.objects.get(pk=op.pk).status == "succeeded", "the download succeeding")


def test_a_client_gone_mid_way_fails_the_download(server, alice, filled):
    conn, head = start_download(server, filled, ApiToken.issue(alice, "download")[1])
    op = operation(head)
    time.sleep(0.5)  # uvicorn waits on the full socket; nothing more is read from the host
    assert Operation.objects.get(pk=op.pk).status == "running"
    conn.close()
    wait_for(lambda: Operation.objects.get(pk=op.pk).status != "running", "the abandoned download ending")
    op.refresh_from_db()
    assert op.status == "failed", op.message
    op.refresh_from_db()
    assert "the client went away" in op.error, op.error
