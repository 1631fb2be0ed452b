"""A relayed message does not wait for the thread the process's consumers share. channels closes
old database connections before every handler through sync_to_async, on the one thread every
consumer of the process shares (views get a thread each, consumers do not): a message to 25
sockets made 25 hops there one after the other, behind any consumer's database call. Here that
thread is held busy (as a slow database call would) until the message has arrived or 5 s passed."""

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from portal import realtime
from tests.portal.test_websocket import connect

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def test_a_relay_reaches_the_socket_while_the_consumers_thread_is_busy(admin_user):
    page, connected, _ = await connect(admin_user)
    assert connected
    await page.send_json_to({"action": "subscribe", "group": realtime.CLOUD_GROUP})
    assert (await page.receive_json_from(timeout=5))["event"] == "subscribed"

    release, holding = threading.Event(), threading.Event()

    def slow_call():  # another consumer's database call on a busy machine
        holding.set()
        release.wait(10)

    view = asyncio.ensure_future(sync_to_async(slow_call)())  # thread_sensitive, as database_sync_to_async
    try:
        await asyncio.get_running_loop().run_in_executor(None, holding.wait, 5)
        assert holding.is_set()
        layer = get_channel_layer()
        await layer.group_send(realtime.CLOUD_GROUP, realtime.message(realtime.CLOUD_GROUP, "ping", {"n": 1}))
        heard = await page.receive_json_from(timeout=5)
        assert not release.is_set() and heard["data"] == {"n": 1}, heard
    finally:
        release.set()
        await view
    await page.disconnect()
