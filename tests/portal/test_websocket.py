"""Websocket auth: anonymous and other-tenant subscriptions are refused; an operation's
progress reaches a subscribed member through the publish helper."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from portal import operations
from portal.asgi import application

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
ORIGIN = (b"origin", b"http://127.0.0.1")
HOST = (b"host", b"127.0.0.1")  # a browser always sends it; the origin check compares both


def session_cookie(user):
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def connect(user=None, origin=ORIGIN):
    headers = [origin, HOST] + ([await sync_to_async(session_cookie)(user)] if user else [])
    comm = WebsocketCommunicator(application, "/ws/", headers=headers)
    connected, code = await comm.connect()
    return comm, connected, code


async def close_code(comm):
    message = await comm.receive_output(timeout=3)
    assert message["type"] == "websocket.close", message
    return message["code"]


async def test_anonymous_websockets_are_closed_with_4401():
    """Accepted, then closed: a refusal at the handshake is a bare 403 the browser cannot read."""
    comm, connected, _ = await connect()
    assert connected and await close_code(comm) == 4401


async def test_a_foreign_origin_is_refused(alice):
    comm, connected, _ = await connect(alice, origin=(b"origin", b"http://evil.example"))
    assert not connected


async def test_another_tenants_operation_cannot_be_followed(alice, charlie, project_a):
    op = await sync_to_async(operations.begin_untargeted)("x", name="x", project=project_a)
    comm, connected, _ = await connect(charlie)
    assert connected
    await comm.send_json_to({"action": "subscribe", "group": f"operation.{op.pk}"})
    assert await comm.receive_json_from() == {"event": "denied", "group": f"operation.{op.pk}"}
    await comm.send_json_to({"action": "subscribe", "group": f"project.{project_a.pk}"})
    assert (await comm.receive_json_from())["event"] == "denied"
    await comm.disconnect()


async def test_unknown_group_kinds_are_refused(alice):
    comm, _, _ = await connect(alice)
    await comm.send_json_to({"action": "subscribe", "group": "nothing.1"})
    assert (await comm.receive_json_from())["event"] == "denied"
    await comm.disconnect()


async def test_a_member_receives_progress_as_it_happens(alice, project_a):
    op = await sync_to_async(operations.begin_untargeted)("x", name="x", project=project_a)
    comm, connected, _ = await connect(alice)
    await comm.send_json_to({"action": "subscribe", "group": f"operation.{op.pk}"})
    assert (await comm.receive_json_from())["event"] == "subscribed"
    await sync_to_async(operations.progress)(op, 40, "copying")
    message = await comm.receive_json_from(timeout=5)
    assert message["event"] == "operation"
    assert message["data"]["progress"] == 40 and message["data"]["message"] == "copying"
    await comm.disconnect()


@pytest.fixture
def short_group_expiry(settings):
    """A layer that forgets group members after 2 s instead of a day."""
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "portal.layers.InMemoryChannelLayer", "CONFIG": {"group_expiry": 2}}
    }
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.mark.parametrize("renew_s, heard", [(0.5, True), (3600, False)], ids=["renewed", "not-renewed"])
async def test_a_page_open_longer_than_the_group_expiry_still_hears_its_groups(
    alice, project_a, short_group_expiry, monkeypatch, renew_s, heard
):
    from portal import consumers

    monkeypatch.setattr(consumers, "GROUP_RENEW_S", renew_s)
    op = await sync_to_async(operations.begin_untargeted)("x", name="x", project=project_a)
    comm, connected, _ = await connect(alice)
    await comm.send_json_to({"action": "subscribe", "group": f"operation.{op.pk}"})
    assert (await comm.receive_json_from())["event"] == "subscribed"
    await asyncio.sleep(3.5)  # past the 2 s expiry
    await sync_to_async(operations.progress)(op, 60, "still there")
    if heard:
        assert (await comm.receive_json_from(timeout=5))["data"]["progress"] == 60
    else:  # the layer really forgets: what the renewal is for
        assert await comm.receive_nothing(timeout=1)
    await comm.disconnect()
