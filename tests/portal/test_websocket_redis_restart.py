"""A Redis restart (no persistence: every group membership forgotten) closes every open websocket
with 1012 instead of leaving pages deaf; a page that reconnects hears its groups again. Real
Redis (a redis-server this test starts on a free port and stops by PID), real channels_redis."""

import shutil
import signal
import subprocess
import time

import pytest
from asgiref.sync import sync_to_async

from portal import realtime
from portal.consumers import CLOSE_SERVICE_RESTART
from tests.browser.conftest import free_port
from tests.portal.test_websocket import connect

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
REDIS = shutil.which("redis-server")


class Redis:
    def __init__(self):
        self.port = free_port()
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout != b"PONG\n":
            assert time.monotonic() < deadline and self.process.poll() is None, "redis-server did not start"
            time.sleep(0.05)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(10)


@pytest.fixture
def redis(settings):
    if REDIS is None:
        pytest.skip("redis-server is not installed (Debian: redis-server)")
    server = Redis()
    server.start()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "portal.redis_layer.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{server.port}/0"], "prefix": "nubes-test"},
        }
    }
    yield server
    server.stop()


async def subscribed(user, group):
    comm, connected, _ = await connect(user)
    assert connected
    await comm.send_json_to({"action": "subscribe", "group": group})
    assert await comm.receive_json_from(timeout=5) == {"event": "subscribed", "group": group}
    return comm


async def all_hear(pages, marker):
    await sync_to_async(realtime.publish)("cloud", "ping", {"marker": marker})
    for page in pages:
        message = await page.receive_json_from(timeout=5)
        heard = {key: message[key] for key in ("group", "event", "data")}  # less sent / relayed
        assert heard == {"group": "cloud", "event": "ping", "data": {"marker": marker}}, message


async def test_a_redis_restart_closes_every_socket_with_1012_and_a_new_one_hears_again(redis, admin_user):
    pages = [await subscribed(admin_user, "cloud") for _ in range(3)]
    await all_hear(pages, "before")
    redis.stop()
    redis.start()
    for page in pages:  # the stock layer: one raised ConnectionError, the others stayed open and deaf
        closing = await page.receive_output(timeout=10)
        assert closing == {"type": "websocket.close", "code": CLOSE_SERVICE_RESTART}, closing
    again = await subscribed(admin_user, "cloud")
    await all_hear([again], "after")
    await again.disconnect()
