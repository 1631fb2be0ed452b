"""Websocket auth: anonymous and other-tenant subscriptions are refused; an operation's
progress reaches a subscribed member through the publish helper."""

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
