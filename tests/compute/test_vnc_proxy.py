"""The graphical console: a one-minute token per user and instance from the API, and the
websocket proxy relaying bytes to the VNC server (a fake RFB peer on 127.0.0.1 here)."""

import asyncio
import time
from unittest import mock

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core import signing

import hypervisor as hv
from compute import console, tasks
from compute.choices import InstanceState, PowerState
from compute.models import Cluster, Host, Instance
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


def test_a_member_gets_a_token_url_and_the_vnc_password(api, alice, project_a, flavor, image):
    instance = make_instance(project_a, flavor, image, local_host(), port=5901)
    response = api["alice"].post(f"/api/v1/instances/{instance.pk}/console-token/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["url"] == f"/ws/vnc/{instance.pk}/?token={body['token']}"
    assert body["password"] == "vncPass1" and body["expires_in"] == 60
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


def test_a_stopped_instance_or_a_remote_host_has_no_reachable_console(api, project_a, flavor, image):
    instance = make_instance(project_a, flavor, image, local_host())
    Instance.objects.filter(pk=instance.pk).update(state=InstanceState.SHUTOFF)
    response = api["alice"].post(f"/api/v1/instances/{instance.pk}/console-token/")
    assert response.status_code == 409 and "while it runs" in str(response.json())
    remote = Host.objects.create(name="far", uri="qemu+ssh://root@far/system", cluster=instance.host.cluster)
    Instance.objects.filter(pk=instance.pk).update(host=remote, state=InstanceState.ACTIVE, vnc_port=5900)
    response = api["alice"].post(f"/api/v1/instances/{instance.pk}/console-token/")
    assert response.status_code == 409 and "remote host" in str(response.json())


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


@pytest_asyncio.fixture
async def vnc_server():
    """A fake VNC server: greets like RFB 3.8, then answers every chunk with b'echo:' + chunk."""

    async def handle(reader, writer):
        writer.write(RFB_GREETING)
        await writer.drain()
        while data := await reader.read(1024):
            writer.write(b"echo:" + data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
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
async def test_the_proxy_relays_bytes_both_ways(alice, project_a, flavor, image, vnc_server):
    instance = await sync_to_async(lambda: make_instance(project_a, flavor, image, local_host(), vnc_server))()
    comm, connected, subprotocol = await open_vnc(alice, instance, await sync_to_async(token_for)(alice, instance))
    assert connected and subprotocol == "binary"
    assert await comm.receive_from(timeout=3) == RFB_GREETING
    await comm.send_to(bytes_data=RFB_GREETING)
    assert await comm.receive_from(timeout=3) == b"echo:" + RFB_GREETING
    await comm.disconnect()


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
