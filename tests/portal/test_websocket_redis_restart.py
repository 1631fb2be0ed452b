"""A Redis restart (no persistence: what was published meanwhile is lost) closes every open
websocket with 1012 so pages reconnect and catch up instead of missing events; a page that
reconnects hears its groups again. Real Redis (a redis-server this test starts on a free port and
stops by PID), real channels_redis (its pub/sub layer, as portal/redis_layer.py extends it)."""

import asyncio
import shutil
import signal
import subprocess
import time

import pytest
from asgiref.sync import sync_to_async

from portal import realtime, redis_layer
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


async def test_a_subscription_cut_and_reconnected_by_redis_py_closes_every_socket_with_1012(redis, admin_user):
    """redis-py connects a pub/sub connection again by itself and subscribes again, silently:
    whatever was published in between is gone, so the pages must still be told."""
    pages = [await subscribed(admin_user, "cloud") for _ in range(2)]
    await all_hear(pages, "before")
    killed = subprocess.run(
        ["redis-cli", "-p", str(redis.port), "client", "kill", "type", "pubsub"], capture_output=True, text=True
    )
    assert killed.stdout.strip() not in ("", "0"), killed
    for page in pages:
        closing = await page.receive_output(timeout=10)
        assert closing == {"type": "websocket.close", "code": CLOSE_SERVICE_RESTART}, closing
    again = await subscribed(admin_user, "cloud")
    await all_hear([again], "after")
    await again.disconnect()


async def test_a_burst_arrives_in_order_and_a_socket_that_does_not_read_holds_at_most_its_capacity(redis):
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    reading, idle = await layer.new_channel(), await layer.new_channel()
    for channel in (reading, idle):
        await layer.group_add("burst", channel)
    count = redis_layer.CAPACITY + 50

    async def read_all():
        return [(await asyncio.wait_for(layer.receive(reading), 5))["n"] for _ in range(count)]

    reader = asyncio.ensure_future(read_all())
    for n in range(count):
        await layer.group_send("burst", {"type": "relay", "n": n})
        await asyncio.sleep(0.002)  # a page reads as they come
    assert await reader == list(range(count))
    held = []
    while True:
        try:
            held.append((await asyncio.wait_for(layer.receive(idle), 1))["n"])
        except TimeoutError:
            break
    assert held == list(range(redis_layer.CAPACITY)), f"{len(held)} held, the first {held[:3]}"
    await layer.flush()
