"""The graphical console on a remote host, against QEMU itself: the lab guest launched on host B
(qemu+tcp://10.99.0.2/system). Its VNC server listens on B's address with the instance's
password; the portal's proxy authenticates (VNC Authentication) and the client, offered security
None, gets QEMU's ServerInit naming the domain. The guest then migrates to host A mid-connection:
the proxy closes with 4410 and says where it went; a new connection reaches it on A. With the
lab's VNC TLS (lab/vnc-tls.sh) both hops to QEMU run inside VeNCrypt and a plain client is refused."""

import asyncio
import struct

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator

from compute import console, rfb
from portal import lab as lab_module
from portal.asgi import application
from tests.compute.test_console import HOST, ORIGIN, session_cookie
from tests.integration.conftest import booted, virsh
from tests.integration.test_migration_lab import migrate

pytestmark = pytest.mark.django_db(transaction=True)
SERVER_INIT_FIXED = 24  # width, height, pixel format, name length


async def open_console(user, url):
    comm = WebsocketCommunicator(
        application, url, headers=[ORIGIN, HOST, await sync_to_async(session_cookie)(user)], subprotocols=["binary"]
    )
    connected, _ = await comm.connect(timeout=15)
    assert connected
    return comm


async def server_init(comm):
    """Speak the browser's side up to ServerInit; returns (width, height, desktop name)."""
    greeting = await comm.receive_from(timeout=15)
    assert greeting == rfb.RFB_38, greeting  # a text frame here would be the proxy's refusal
    await comm.send_to(bytes_data=rfb.RFB_38)
    assert await comm.receive_from(timeout=5) == bytes([1, rfb.SEC_NONE])
    await comm.send_to(bytes_data=bytes([rfb.SEC_NONE]))
    assert await comm.receive_from(timeout=5) == struct.pack(">I", 0)
    await comm.send_to(bytes_data=b"\x01")  # ClientInit, shared
    data = b""
    while len(data) < SERVER_INIT_FIXED or len(data) < SERVER_INIT_FIXED + struct.unpack(">I", data[20:24])[0]:
        data += await comm.receive_from(timeout=10)
    width, height = struct.unpack(">HH", data[:4])
    name = data[SERVER_INIT_FIXED : SERVER_INIT_FIXED + struct.unpack(">I", data[20:24])[0]].decode()
    return width, height, name


@async_to_sync
async def plain_client(host, port):
    """A VNC client without TLS straight to the host's QEMU: (security types offered, why refused)."""
    reader, writer = await asyncio.open_connection(console.listen_address(host), port)
    try:
        await reader.readexactly(12)
        writer.write(rfb.RFB_38)
        (count,) = await reader.readexactly(1)
        offered = list(await reader.readexactly(count))
        writer.close()
        reader, writer = await asyncio.open_connection(console.listen_address(host), port)
        try:
            await rfb.authenticate(reader, writer, "password", None)
        except rfb.HandshakeFailed as exc:
            return offered, str(exc)
        return offered, ""
    finally:
        writer.close()


def token_url(api, instance):
    response = api.post(f"/api/v1/instances/{instance.pk}/console-token/")
    assert response.status_code == 200, response.content
    assert "password" not in response.json()
    return response.json()["url"]


def test_the_console_of_a_guest_on_host_b_authenticates_and_follows_a_migration(
    admin_api, admin_user, lab, lab_cloud, host_a, host_b, project_a
):
    payload = {
        "project": project_a.pk,
        "name": "it-vnc-b",
        "flavor": lab_cloud["flavor"].pk,
        "image": lab_cloud["image"].pk,
        "host": host_b.pk,
    }
    with booted(admin_api, payload, [host_a, host_b]) as instance:
        instance.refresh_from_db()
        xml = virsh(host_b.uri, "dumpxml", instance.domain_name)
        assert "listen='10.99.0.2'" in xml and f"port='{instance.vnc_port}'" in xml

        if lab_module.vnc_tls_settings(lab):  # lab/vnc-tls.sh: QEMU's VNC on B speaks VeNCrypt only
            offered, refusal = plain_client(host_b, instance.vnc_port)
            assert offered == [rfb.SEC_VENCRYPT] and "wants TLS" in refusal, (offered, refusal)
        else:
            print("the lab has no VNC TLS (lab/state/vnc-pki): QEMU's VNC is plain; the proxy uses VNC Authentication")

        url = token_url(admin_api, instance)

        @async_to_sync
        async def session_then_migration():
            comm = await open_console(admin_user, url)
            width, height, name = await server_init(comm)
            assert width > 0 and height > 0 and instance.domain_name in name
            op = await sync_to_async(migrate)(admin_user, instance, host_a)
            text = await comm.receive_from(timeout=30)
            while not isinstance(text, str):  # screen updates QEMU sent before it went away
                text = await comm.receive_from(timeout=30)
            closing = await comm.receive_output(timeout=5)
            await comm.disconnect()
            return op, text, closing

        op, text, closing = session_then_migration()
        op.refresh_from_db()
        assert op.status == "succeeded", op.error
        assert closing["code"] == 4410 and "nubes-hosta" in text, text
        instance.refresh_from_db()
        assert instance.host_id == host_a.pk
        assert "listen='127.0.0.1'" in virsh(host_a.uri, "dumpxml", instance.domain_name)
        assert "listen='127.0.0.1'" in virsh(host_a.uri, "dumpxml", "--inactive", instance.domain_name)

        url = token_url(admin_api, instance)

        @async_to_sync
        async def again_on_a():
            comm = await open_console(admin_user, url)
            result = await server_init(comm)
            await comm.disconnect()
            return result

        assert instance.domain_name in again_on_a()[2]
