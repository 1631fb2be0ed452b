"""The serial console websocket: authorised per user and instance; simulated hosts say there
is no guest; real hosts stream the serial log."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

import hypervisor as hv
from compute import consumers
from compute.choices import InstanceState
from compute.models import Cluster, Host, Instance
from compute.services.serial import LocalLog
from portal.asgi import application
from tests.portal.test_websocket import close_code

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
ORIGIN = (b"origin", b"http://127.0.0.1")
HOST = (b"host", b"127.0.0.1")


def session_cookie(user):
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def open_console(user, instance):
    headers = [ORIGIN, HOST, await sync_to_async(session_cookie)(user)]
    comm = WebsocketCommunicator(application, f"/ws/console/{instance.pk}/", headers=headers)
    connected, code = await comm.connect()
    return comm, connected, code


def make_instance(project, flavor, image, host, log=""):
    return Instance.objects.create(
        project=project,
        name="vm",
        flavor=flavor,
        image=image,
        host=host,
        vcpus=1,
        ram_mb=flavor.ram_mb,
        disk_gb=flavor.disk_gb,
        state=InstanceState.ACTIVE,
        serial_log_path=log,
    )


async def test_a_simulated_host_says_there_is_no_guest_console(alice, project_a, flavor, image, host_a):
    instance = await sync_to_async(make_instance)(project_a, flavor, image, host_a)
    comm, connected, _ = await open_console(alice, instance)
    assert connected
    message = await comm.receive_json_from()
    assert "simulated host" in message["text"] and "no console output" in message["text"]
    await comm.disconnect()


async def test_another_tenant_cannot_open_the_console(charlie, project_a, flavor, image, host_a):
    instance = await sync_to_async(make_instance)(project_a, flavor, image, host_a)
    _comm, connected, code = await open_console(charlie, instance)
    assert connected and await close_code(_comm) == 4404  # accepted, then closed: the code reaches the browser


async def test_a_real_hosts_serial_log_is_streamed(alice, project_a, flavor, image, tmp_path):
    log = tmp_path / "serial.log"
    log.write_text("boot line 1\n")

    def real_host():
        cluster = Cluster.objects.create(name="lab")
        host = Host.objects.create(name="lab-a", uri="qemu:///system", cluster=cluster, simulated=False)
        return make_instance(project_a, flavor, image, host, str(log))

    instance = await sync_to_async(real_host)()
    comm, connected, _ = await open_console(alice, instance)
    assert connected
    assert (await comm.receive_json_from(timeout=3))["text"] == "boot line 1\n"
    with log.open("a") as handle:
        handle.write("heartbeat 2\n")
    assert (await comm.receive_json_from(timeout=3))["text"] == "heartbeat 2\n"
    await comm.disconnect()


class FakeInput:
    """Stands in for hypervisor.ConsoleWriter (the test driver has no console streams)."""

    def __init__(self, uri, uuid):
        self.uri, self.uuid, self.sent, self.closed, self.taken, self.broken = uri, uuid, [], False, False, False

    def send(self, data):
        if self.broken:
            raise hv.ConsoleClosed("the stream ended")
        self.sent.append(data)

    def drain(self):
        if self.taken:
            raise hv.ConsoleClosed("taken by another client")
        return 0

    def close(self):
        self.closed = True


@pytest.fixture
def inputs(monkeypatch):
    made = []

    def open_input(uri, uuid):
        made.append(FakeInput(uri, uuid))
        return made[-1]

    monkeypatch.setattr(consumers, "open_input", open_input)
    # The output side reads the log over libvirt on a remote host (tried on the lab by
    # test_remote_serial_lab.py); here the test's own file, so no lab is needed.
    monkeypatch.setattr(consumers, "serial_log", lambda uri, path: LocalLog(path))
    return made


def real_instance(project, flavor, image, log):
    cluster = Cluster.objects.create(name="lab")
    host = Host.objects.create(name="lab-b", uri="qemu+tcp://10.99.0.2/system", cluster=cluster, simulated=False)
    return make_instance(project, flavor, image, host, str(log))


async def test_input_goes_into_the_guests_console_stream_on_a_remote_host(
    alice, project_a, flavor, image, tmp_path, inputs
):
    log = tmp_path / "serial.log"
    log.write_text("login: ")
    instance = await sync_to_async(real_instance)(project_a, flavor, image, log)
    comm, connected, _ = await open_console(alice, instance)
    assert connected and (await comm.receive_json_from(timeout=3))["text"] == "login: "
    await comm.send_json_to({"input": "root\r"})
    await comm.send_json_to({"input": "ls\r"})
    assert await comm.receive_nothing(timeout=0.3)
    (writer,) = inputs  # one stream, opened at the first keystroke, for the session
    assert (writer.uri, writer.uuid) == ("qemu+tcp://10.99.0.2/system", str(instance.uuid))
    assert writer.sent == [b"root\r", b"ls\r"]
    writer.taken = True  # another session typed: libvirt closed this one's stream
    message = await comm.receive_json_from(timeout=3)
    assert message["kind"] == "notice" and "take it back" in message["text"]
    await comm.send_json_to({"input": "x"})  # typing takes it back: a new stream
    assert await comm.receive_nothing(timeout=0.3)
    assert len(inputs) == 2 and inputs[1].sent == [b"x"]
    inputs[1].broken = True  # ended before the drain noticed: the keystroke goes into a new stream
    await comm.send_json_to({"input": "y"})
    assert await comm.receive_nothing(timeout=0.3)
    assert len(inputs) == 3 and inputs[2].sent == [b"y"] and inputs[1].closed
    await comm.disconnect()
    assert inputs[2].closed


async def test_a_reader_cannot_type(bob, project_a, flavor, image, tmp_path, inputs):
    log = tmp_path / "serial.log"
    log.write_text("login: ")
    instance = await sync_to_async(real_instance)(project_a, flavor, image, log)
    comm, connected, _ = await open_console(bob, instance)
    assert connected and (await comm.receive_json_from(timeout=3))["text"] == "login: "
    await comm.send_json_to({"input": "reboot\r"})
    assert "Readers cannot type" in (await comm.receive_json_from(timeout=3))["text"]
    await comm.send_json_to({"keys": 1})
    assert "input" in (await comm.receive_json_from(timeout=3))["text"]
    assert inputs == []
    await comm.disconnect()
