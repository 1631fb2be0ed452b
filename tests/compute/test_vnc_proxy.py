"""The graphical console: a one-minute token per user and instance from the API, and the
websocket proxy: it authenticates to the VNC server with the instance's password (VNC
Authentication), offers the browser no authentication, then relays bytes. A fake RFB server on
127.0.0.1 stands in for QEMU here (tests/integration/test_remote_console_lab.py uses QEMU)."""

import asyncio
import os
import struct
import time
from unittest import mock

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from django.core import signing

import hypervisor as hv
from compute import console, domain, rfb
from compute.choices import InstanceState, PowerState
from compute.models import Cluster, Host, Instance
from compute.tasks import instances as tasks
from portal.asgi import application
from tests.compute.test_console import HOST, ORIGIN, session_cookie
from tests.portal.test_websocket import close_code

RFB_GREETING = b"RFB 003.008\n"


def make_instance(project, flavor, image, host, port=None):
    instance = Instance(
        project=project,
        name="desktop",
        flavor=flavor,
        image=image,
        host=host,
        vcpus=1,
        ram_mb=flavor.ram_mb,
        disk_gb=flavor.disk_gb,
        state=InstanceState.ACTIVE,
        vnc_port=port,
    )
    instance.set_vnc_password("vncPass1234")
    instance.save()
    return instance


def local_host():
    return Host.objects.create(name="lab-a", uri="qemu:///system", cluster=Cluster.objects.create(name="lab"))


def token_for(user, instance):
    return signing.dumps({"u": user.pk, "i": instance.pk}, salt=console.TOKEN_SALT, compress=True)


# --- the token endpoint (sync) ----------------------------------------------------------------


def test_a_member_gets_a_token_url_and_never_the_vnc_password(api, alice, project_a, flavor, image):
    instance = make_instance(project_a, flavor, image, local_host(), port=5901)
    response = api["alice"].post(f"/api/v1/instances/{instance.pk}/console-token/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["url"] == f"/ws/vnc/{instance.pk}/?token={body['token']}" and body["expires_in"] == 60
    assert "password" not in body and "vncPass" not in response.content.decode()
    assert console.check(body["token"], alice.pk, instance.pk)
    assert not console.check(body["token"], alice.pk, instance.pk + 1)


def test_simulated_hosts_refuse_with_a_clear_message(api, project_a, flavor, image, host_a):
    instance = make_instance(project_a, flavor, image, host_a)
    response = api["alice"].post(f"/api/v1/instances/{instance.pk}/console-token/")
    assert response.status_code == 409 and "simulated host" in str(response.json())


def test_readers_and_other_tenants_get_no_token(api, project_a, flavor, image):
    instance = make_instance(project_a, flavor, image, local_host(), port=5901)
    assert api["bob"].post(f"/api/v1/instances/{instance.pk}/console-token/").status_code == 403
    assert api["charlie"].post(f"/api/v1/instances/{instance.pk}/console-token/").status_code == 404


def test_a_stopped_instance_has_no_console_and_a_remote_host_has_one(api, project_a, flavor, image):
    instance = make_instance(project_a, flavor, image, local_host())
    Instance.objects.filter(pk=instance.pk).update(state=InstanceState.SHUTOFF)
    response = api["alice"].post(f"/api/v1/instances/{instance.pk}/console-token/")
    assert response.status_code == 409 and "while it runs" in str(response.json())
    remote = Host.objects.create(name="far", uri="qemu+ssh://root@far/system", cluster=instance.host.cluster)
    Instance.objects.filter(pk=instance.pk).update(host=remote, state=InstanceState.ACTIVE, vnc_port=5900)
    response = api["alice"].post(f"/api/v1/instances/{instance.pk}/console-token/")
    assert response.status_code == 200, response.content


def test_vnc_listens_on_the_address_in_the_hosts_uri(project_a, flavor, image):
    cluster = Cluster.objects.create(name="fleet")
    far = Host.objects.create(name="b", uri="qemu+tcp://10.99.0.2/system", cluster=cluster)
    assert console.listen_address(far) == "10.99.0.2"
    assert console.listen_address(Host(uri="qemu+ssh://root@b.example/system")) == "b.example"
    assert console.listen_address(Host(uri="qemu:///system")) == "127.0.0.1"
    instance = make_instance(project_a, flavor, image, far, port=5900)
    xml = hv.build_domain_xml(domain.domain_spec(instance, "/p/root.qcow2"))
    assert 'listen="10.99.0.2"' in xml and 'address="10.99.0.2"' in xml and 'passwd="vncPass1"' in xml
    moved = hv.set_vnc_listen(xml, "10.99.0.1")
    assert "10.99.0.2" not in moved and 'address="10.99.0.1"' in moved and 'passwd="vncPass1"' in moved


def test_the_tasks_record_the_live_vnc_port_of_real_hosts_only(project_a, flavor, image, host_a, monkeypatch):
    real = make_instance(project_a, flavor, image, local_host())
    xml = hv.build_domain_xml(hv.DomainSpec(name="x", memory_kib=1024 * 256)).replace('port="-1"', 'port="5907"')
    monkeypatch.setattr(hv, "domain_xml", lambda uri, uuid, **kw: xml)
    tasks.record_vnc_port(real, PowerState.RUNNING)
    assert Instance.objects.get(pk=real.pk).vnc_port == 5907
    tasks.record_vnc_port(real, PowerState.SHUTOFF)
    assert Instance.objects.get(pk=real.pk).vnc_port is None
    simulated = make_instance(project_a, flavor, image, host_a)
    tasks.record_vnc_port(simulated, PowerState.RUNNING)
    assert Instance.objects.get(pk=simulated.pk).vnc_port is None


# --- the proxy (async) ------------------------------------------------------------------------


def server_response(password, challenge):
    """VNC Authentication as the server checks it, written apart from compute.rfb: DES-ECB of the
    challenge keyed with the password's first 8 bytes, each byte bit-reversed."""
    key = bytes(int(bin(b)[2:].zfill(8)[::-1], 2) for b in password.encode()[:8].ljust(8, b"\0"))
    cipher = Cipher(TripleDES(key + key + key), modes.ECB()).encryptor()
    return cipher.update(challenge) + cipher.finalize()


class FakeVnc:
    """A VNC server: RFB 3.8, VNC Authentication with ``password`` (or only ``offer``), then it
    answers every chunk with b'echo:' + chunk. ``close_after_auth`` drops the client once
    authenticated (a QEMU that went away)."""

    def __init__(self, password="vncPass1", offer=(rfb.SEC_VNC,), close_after_auth=False):
        self.password, self.offer, self.close_after_auth = password, offer, close_after_auth
        self.authenticated = []

    async def handle(self, reader, writer):
        writer.write(RFB_GREETING)
        await reader.readexactly(12)
        writer.write(bytes([len(self.offer), *self.offer]))
        await writer.drain()
        if (await reader.readexactly(1))[0] != rfb.SEC_VNC:
            writer.close()
            return
        challenge = os.urandom(16)
        writer.write(challenge)
        await writer.drain()
        ok = await reader.readexactly(16) == server_response(self.password, challenge)
        self.authenticated.append(ok)
        if not ok:
            reason = b"Authentication failed"
            writer.write(struct.pack(">II", 1, len(reason)) + reason)
            await writer.drain()
            writer.close()
            return
        writer.write(struct.pack(">I", 0))
        await writer.drain()
        if self.close_after_auth:
            writer.close()
            return
        while data := await reader.read(1024):
            writer.write(b"echo:" + data)
            await writer.drain()
        writer.close()


async def serve(fake):
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest_asyncio.fixture
async def vnc_server():
    server, port = await serve(FakeVnc())
    yield port
    server.close()
    await server.wait_closed()


async def open_vnc(user, instance, token):
    headers = [ORIGIN, HOST, await sync_to_async(session_cookie)(user)]
    comm = WebsocketCommunicator(
        application, f"/ws/vnc/{instance.pk}/?token={token}", headers=headers, subprotocols=["binary"]
    )
    connected, code = await comm.connect()
    return comm, connected, code


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_proxy_authenticates_offers_the_browser_none_and_relays_bytes(
    alice, project_a, flavor, image, vnc_server
):
    instance = await sync_to_async(lambda: make_instance(project_a, flavor, image, local_host(), vnc_server))()
    comm, connected, subprotocol = await open_vnc(alice, instance, await sync_to_async(token_for)(alice, instance))
    assert connected and subprotocol == "binary"
    assert await comm.receive_from(timeout=3) == RFB_GREETING
    await comm.send_to(bytes_data=RFB_GREETING)
    assert await comm.receive_from(timeout=3) == bytes([1, rfb.SEC_NONE])  # one type: None
    await comm.send_to(bytes_data=bytes([rfb.SEC_NONE]) + b"\x01")  # the choice, then ClientInit
    assert await comm.receive_from(timeout=3) == struct.pack(">I", 0)  # SecurityResult OK
    assert await comm.receive_from(timeout=3) == b"echo:\x01"  # ClientInit reached the server
    await comm.disconnect()


async def browser_handshake(comm):
    assert await comm.receive_from(timeout=3) == RFB_GREETING
    await comm.send_to(bytes_data=RFB_GREETING)
    assert await comm.receive_from(timeout=3) == bytes([1, rfb.SEC_NONE])
    await comm.send_to(bytes_data=bytes([rfb.SEC_NONE]))
    assert await comm.receive_from(timeout=3) == struct.pack(">I", 0)


async def refused_with(comm):
    text = await comm.receive_from(timeout=3)
    closing = await comm.receive_output(timeout=3)
    assert closing["code"] == 4409 and closing["reason"] == text[:123]
    return text


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "fake, expected",
    [
        (FakeVnc(password="other"), "VNC authentication failed: Authentication failed"),
        (FakeVnc(offer=(rfb.SEC_NONE,)), "never connects to a console without authentication"),
    ],
)
async def test_a_wrong_password_or_a_server_without_one_is_refused_with_the_reason(
    alice, project_a, flavor, image, fake, expected
):
    server, port = await serve(fake)
    try:
        instance = await sync_to_async(lambda: make_instance(project_a, flavor, image, local_host(), port))()
        comm, connected, _ = await open_vnc(alice, instance, await sync_to_async(token_for)(alice, instance))
        assert connected
        assert expected in await refused_with(comm)
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_instance_that_moved_away_mid_connection_gets_a_clear_close_reason(alice, project_a, flavor, image):
    server, port = await serve(FakeVnc(close_after_auth=True))
    try:
        instance = await sync_to_async(lambda: make_instance(project_a, flavor, image, local_host(), port))()
        other = await sync_to_async(
            lambda: Host.objects.create(name="lab-b", uri="qemu+tcp://10.99.0.2/system", cluster=instance.host.cluster)
        )()
        comm, connected, _ = await open_vnc(alice, instance, await sync_to_async(token_for)(alice, instance))
        assert connected
        # The migration finished while the browser was connected: the database says host B.
        await sync_to_async(lambda: Instance.objects.filter(pk=instance.pk).update(host=other))()
        await browser_handshake(comm)
        text = await comm.receive_from(timeout=3)
        closing = await comm.receive_output(timeout=3)
        assert text == "desktop moved to host lab-b: open the console again to reach it there."
        assert closing["code"] == 4410 and closing["reason"] == text
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_unreachable_vnc_server_is_refused_with_the_address(alice, project_a, flavor, image):
    instance = await sync_to_async(lambda: make_instance(project_a, flavor, image, local_host(), 1))()
    comm, connected, _ = await open_vnc(alice, instance, await sync_to_async(token_for)(alice, instance))
    assert connected
    assert "Cannot reach the VNC server at 127.0.0.1:1" in await refused_with(comm)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_expired_token_is_refused(alice, project_a, flavor, image, vnc_server):
    instance = await sync_to_async(lambda: make_instance(project_a, flavor, image, local_host(), vnc_server))()
    with mock.patch("time.time", return_value=time.time() - console.TOKEN_MAX_AGE_S - 5):
        stale = await sync_to_async(token_for)(alice, instance)
    _comm, connected, code = await open_vnc(alice, instance, stale)
    assert connected and await close_code(_comm) == 4403  # accepted, then closed: the code reaches the browser


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_another_tenant_is_refused_with_or_without_the_owners_token(
    alice, charlie, project_a, flavor, image, vnc_server
):
    instance = await sync_to_async(lambda: make_instance(project_a, flavor, image, local_host(), vnc_server))()
    _comm, connected, code = await open_vnc(charlie, instance, await sync_to_async(token_for)(alice, instance))
    assert connected and await close_code(_comm) == 4403  # accepted, then closed: the code reaches the browser
    _comm, connected, code = await open_vnc(charlie, instance, await sync_to_async(token_for)(charlie, instance))
    assert connected and await close_code(_comm) == 4404  # accepted, then closed: the code reaches the browser
    _comm, connected, code = await open_vnc(alice, instance, "forged")
    assert connected and await close_code(_comm) == 4403  # accepted, then closed: the code reaches the browser


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_simulated_host_is_refused_with_a_clear_message(alice, project_a, flavor, image, host_a):
    instance = await sync_to_async(lambda: make_instance(project_a, flavor, image, host_a))()
    comm, connected, _ = await open_vnc(alice, instance, await sync_to_async(token_for)(alice, instance))
    assert connected
    assert "simulated host" in await comm.receive_from(timeout=3)
    assert (await comm.receive_output(timeout=3))["code"] == 4409
