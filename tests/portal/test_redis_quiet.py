"""Websockets on the Redis channel layer survive quiet. channels_redis's list layer waited for a
message with a 5 s blocking pop; redis-py 8's default 5 s socket timeout used to end that read
first, so every socket without a message for 5 s died (the layer is pub/sub now: its reads wait
0.1 s at a time; still no quiet may end a socket). Runs on real Redis (`make test-postgres` sets REDIS_URL):
the layer alone, then the README's production server (uvicorn, several workers) with a socket
held quiet for 30 s and a message published by another process."""

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from portal import operations
from tests.browser.conftest import free_port, stop, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
QUIET_S = 30  # the issue: sockets died 5.05 s after their last message

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not settings.REDIS_URL, reason="needs Redis: REDIS_URL is not set (`make test-postgres` sets it)"
    ),
]


def test_a_receive_outlasts_the_blocking_pop_on_a_quiet_channel():
    quiet = 7  # longer than redis-py 8's default 5 s socket timeout

    async def quiet_then_send():
        from channels.layers import channel_layers

        layer = channel_layers.make_backend("default")
        channel = await layer.new_channel()

        async def send_later():
            await asyncio.sleep(quiet)
            await layer.send(channel, {"type": "late", "n": 1})

        sender = asyncio.ensure_future(send_later())
        started = time.monotonic()
        try:
            message = await asyncio.wait_for(layer.receive(channel), quiet + 15)
        finally:
            await sender
            await layer.flush()
        return message, time.monotonic() - started

    message, waited = asyncio.run(quiet_then_send())
    assert message == {"type": "late", "n": 1}
    assert waited >= quiet - 0.5, f"received after {waited:.1f} s, before the message was sent"


def database_url():
    """The test database, as a URL another process can open."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = urllib.parse.quote(db["USER"] or "")
    if db["PASSWORD"]:
        auth += ":" + urllib.parse.quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def production_env(tmp_path):
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        NUBES_CHANNEL_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        SECRET_KEY=settings.SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1",
        NUBES_DATA_DIR=str(tmp_path),
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def uvicorn_url(production_env, tmp_path):
    """The README's production server; stopped by its PID."""
    port = free_port()
    log = tmp_path / "uvicorn.log"
    command = [sys.executable, "-m", "uvicorn", "portal.asgi:application", "--host", "127.0.0.1"]
    with log.open("w") as out:
        process = subprocess.Popen(
            command + ["--port", str(port), "--workers", "2"],
            env=production_env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}", process, log)
        yield f"127.0.0.1:{port}", log
    finally:
        stop(process)


@pytest.mark.django_db(transaction=True)
def test_a_quiet_socket_on_the_production_server_still_gets_the_next_message(
    alice, project_a, uvicorn_url, production_env
):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url, log = uvicorn_url
    op = operations.begin_untargeted("x.quiet", name="quiet", project=project_a)
    client = Client()
    client.force_login(alice)
    headers = {"Cookie": f"sessionid={client.cookies['sessionid'].value}", "Origin": f"http://{url}"}
    with connect(f"ws://{url}/ws/", additional_headers=headers) as socket:
        socket.send(json.dumps({"action": "subscribe", "group": op.group}))
        assert json.loads(socket.recv(10)) == {"event": "subscribed", "group": op.group}
        started = time.monotonic()
        try:
            early = socket.recv(QUIET_S)
        except TimeoutError:
            early = None  # the quiet held: nothing came and the socket stayed open
        except ConnectionClosed as closed:
            pytest.fail(
                f"the server closed the quiet socket after {time.monotonic() - started:.1f} s ({closed}):\n"
                + log.read_text()[-3000:]
            )
        assert early is None, f"nothing was published, yet the socket received {early!r}"
        publish = f"from portal import operations; operations.progress(operations.reload({op.pk}), 42, 'after quiet')"
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-v", "0", "-c", publish],
            env=production_env,
            cwd=ROOT,
            check=True,
        )
        message = json.loads(socket.recv(20))
    assert message["group"] == op.group and message["event"] == "operation"
    assert message["data"]["progress"] == 42 and message["data"]["message"] == "after quiet"
