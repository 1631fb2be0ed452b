"""The serial console of a guest on a remote host, read over libvirt: lab host B (qemu+tcp) has
its log directory made a transient dir pool, and the log is sized and read by byte ranges
(virStorageVolDownload). First the gateway on a file of known bytes, then the console websocket
of a guest booted on host B showing its heartbeat, taking input (virDomainOpenConsole's stream
over qemu+tcp: the guest's tty echoes the typed line into the log), and Nova's
os-getConsoleOutput of it."""

import uuid
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator

import hypervisor as hv
from compute.models import Instance
from compute.services.serial import RemoteLog, serial_log
from compute.tasks.hosts import active_pools
from openstack_api.server_actions import console_output
from portal.asgi import application
from tests.compute.test_console import HOST, ORIGIN, session_cookie
from tests.integration.conftest import booted, launch_payload, virsh

pytestmark = pytest.mark.django_db(transaction=True)
HEARTBEAT = "nubes-heartbeat"
OUTPUT_TIMEOUT_S = 60


@pytest.fixture
def host_b_uri(lab):
    uri = lab["hosts"][1]["uri"]
    assert uri.startswith("qemu+tcp://"), uri
    return uri


@pytest.fixture
def a_log(lab):
    path = Path(lab["guest"]["serial_log_dir"]) / f"it-serial-{uuid.uuid4().hex[:8]}-serial.log"
    path.write_bytes(b"boot line\r\n" * 100)
    yield path
    path.unlink(missing_ok=True)


def test_a_remote_hosts_log_is_sized_and_read_by_ranges_over_libvirt(host_b_uri, a_log):
    path, data = str(a_log), a_log.read_bytes()
    assert hv.serial_log_size(host_b_uri, path) == len(data)
    assert hv.serial_log_read(host_b_uri, path, 0, 9) == b"boot line"
    assert hv.serial_log_read(host_b_uri, path, len(data) - 11, 11) == b"boot line\r\n"
    with a_log.open("ab") as log:  # the guest writes on: libvirt sees the new size and bytes
        log.write(b"nubes-heartbeat 1\r\n")
    assert hv.serial_log_size(host_b_uri, path) == len(data) + 19
    assert hv.serial_log_read(host_b_uri, path, len(data), 19) == b"nubes-heartbeat 1\r\n"
    assert hv.serial_log_size(host_b_uri, path + ".missing") is None
    pools = virsh(host_b_uri, "pool-list", "--transient", "--name").split()
    assert any(name.startswith(hv.SERIAL_LOG_POOL_PREFIX) for name in pools), pools
    assert not [name for name in active_pools(host_b_uri) if name.startswith(hv.SERIAL_LOG_POOL_PREFIX)]
    with pytest.raises(hv.InvalidConfig):
        hv.serial_log_read(host_b_uri, "/var/../etc/passwd", 0, 10)
    assert hv.serial_log_remove(host_b_uri, path) and not a_log.exists()  # deleted by host B's libvirtd
    assert not hv.serial_log_remove(host_b_uri, path)


def test_the_serial_console_of_a_guest_on_host_b_streams_over_libvirt(
    admin_api, admin_user, lab_cloud, host_a, host_b, project_a
):
    payload = launch_payload(lab_cloud, project_a, host_b, "it-serial-b")
    with booted(admin_api, payload, [host_a, host_b]) as instance:
        assert isinstance(serial_log(host_b.uri, instance.serial_log_path), RemoteLog)  # not the file here

        typed = f"nubes-typed-{uuid.uuid4().hex[:8]}"

        @async_to_sync
        async def console_text():
            headers = [ORIGIN, HOST, await sync_to_async(session_cookie)(admin_user)]
            comm = WebsocketCommunicator(application, f"/ws/console/{instance.pk}/", headers=headers)
            connected, _ = await comm.connect(timeout=15)
            assert connected
            text = ""
            while text.count(HEARTBEAT) < 2:  # the backlog, then at least one line written since
                message = await comm.receive_json_from(timeout=OUTPUT_TIMEOUT_S)
                assert message["kind"] == "output", message
                text += message["text"]
            await comm.send_json_to({"input": typed + "\r"})
            echoed = ""
            while typed not in echoed:  # the guest's tty echoes the line (it runs no shell)
                message = await comm.receive_json_from(timeout=OUTPUT_TIMEOUT_S)
                assert message["kind"] == "output", message
                echoed += message["text"]
            await comm.disconnect()
            return text, echoed

        text, echoed = console_text()
        assert HEARTBEAT in text and typed in echoed
        # Nova's os-getConsoleOutput takes the same route: the log's last lines over libvirt
        tail = console_output(instance, 3)
        assert len(tail.splitlines()) == 3 and HEARTBEAT in tail, tail
    # Deleted through the API, the instance's log went with it, removed over host B's libvirt.
    assert Instance.objects.get(pk=instance.pk).state == "deleted"
    assert not Path(instance.serial_log_path).exists()
