"""The embedded default's channel layer: a publish from a worker thread (realtime.publish runs
group_send on a throwaway event loop of its own) reaches a consumer waiting on the server's
loop in another thread at once, as it does when both sides share one loop."""

import asyncio
import threading
import time

import pytest
from django.test import override_settings

from portal import realtime

GROUP = "compute.instance.1"
DELIVERY_LIMIT_S = 1.0  # the stock layer delivered only when something else woke the loop
WAIT_S = 5.0
LAYERS = {"default": {"BACKEND": "portal.layers.InMemoryChannelLayer"}}


class ServerLoop:
    """A loop in its own thread, idle but for one consumer waiting on its channel (uvicorn's)."""

    def __init__(self, layer):
        self.layer, self.loop = layer, asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout=WAIT_S):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT_S)
        self.loop.close()


@pytest.fixture
def layer():
    from channels.layers import channel_layers, get_channel_layer

    with override_settings(CHANNEL_LAYERS=LAYERS):
        channel_layers.backends.clear()
        yield get_channel_layer()
        channel_layers.backends.clear()


def test_a_publish_from_a_worker_thread_wakes_the_server_loop_at_once(layer):
    server = ServerLoop(layer)
    try:
        channel = server.run(layer.new_channel())
        server.run(layer.group_add(GROUP, channel))
        received = asyncio.run_coroutine_threadsafe(layer.receive(channel), server.loop)
        time.sleep(0.2)  # the consumer is parked in the server loop's select()
        started = time.monotonic()
        worker = threading.Thread(target=realtime.publish, args=(GROUP, "instance", {"state": "active"}))
        worker.start()
        worker.join(WAIT_S)
        message = received.result(WAIT_S)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert message["data"] == {"state": "active"} and message["event"] == "instance"
    assert elapsed < DELIVERY_LIMIT_S, f"delivered after {elapsed:.2f} s"


def test_a_publish_with_nobody_listening_does_not_block(layer):
    started = time.monotonic()
    realtime.publish(GROUP, "instance", {})
    assert time.monotonic() - started < DELIVERY_LIMIT_S
