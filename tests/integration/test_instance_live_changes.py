"""On a real guest: the balloon target and CPU shares change live and libvirt reports the new
values; the serial console streams heartbeat lines over the websocket."""

import asyncio
import re
import time

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from compute.models import Instance
from portal.asgi import application
from tests.integration.conftest import virsh, wait_for_heartbeat
from tests.integration.test_instance_lifecycle import succeeded

pytestmark = pytest.mark.django_db(transaction=True)
CONSOLE_TIMEOUT_S = 20
BALLOON_TIMEOUT_S = 30


@pytest.fixture
def running_guest(admin_api, lab_cloud, host_a, project_a):
    payload = {
        "project": project_a.pk,
        "name": "it-live",
        "flavor": lab_cloud["flavor"].pk,
        "image": lab_cloud["image"].pk,
        "host": host_a.pk,
    }
    op = succeeded(admin_api.post("/api/v1/instances/", payload, format="json"))
    instance = Instance.objects.get(pk=op.target_id)
    wait_for_heartbeat(instance.serial_log_path)
    yield instance
    succeeded(admin_api.delete(f"/api/v1/instances/{instance.pk}/"))


def balloon_reaches(uri, domain, target_kib, timeout=BALLOON_TIMEOUT_S):
    """The guest's balloon driver inflates on its own time: poll libvirt's 'actual'."""
    deadline = time.monotonic() + timeout
    actual = None
    while time.monotonic() < deadline:
        actual = int(re.search(r"actual (\d+)", virsh(uri, "dommemstat", domain)).group(1))
        if actual == target_kib:
            return True
        time.sleep(0.5)
    raise AssertionError(f"balloon at {actual} KiB, wanted {target_kib} KiB")


def test_balloon_and_cpu_shares_change_live_on_a_real_guest(admin_api, running_guest, host_a):
    target_mb = running_guest.ram_mb - 64
    succeeded(
        admin_api.post(f"/api/v1/instances/{running_guest.pk}/set-balloon/", {"memory_mb": target_mb}, format="json")
    )
    assert balloon_reaches(host_a.uri, running_guest.domain_name, target_mb * 1024)

    succeeded(admin_api.post(f"/api/v1/instances/{running_guest.pk}/set-cpu-qos/", {"shares": 512}, format="json"))
    schedinfo = virsh(host_a.uri, "schedinfo", running_guest.domain_name)
    assert re.search(r"cpu_shares\s*:\s*512", schedinfo), schedinfo


def test_the_serial_console_streams_heartbeats_over_the_websocket(admin_user, running_guest):
    client = Client()
    client.force_login(admin_user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def read_console():
        comm = WebsocketCommunicator(
            application,
            f"/ws/console/{running_guest.pk}/",
            headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"), (b"cookie", cookie)],
        )
        connected, _ = await comm.connect()
        assert connected
        text = ""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONSOLE_TIMEOUT_S
        while len(re.findall(r"nubes-heartbeat \d+", text)) < 2 and loop.time() < deadline:
            message = await comm.receive_json_from(timeout=CONSOLE_TIMEOUT_S)
            text += message.get("text", "")
        await comm.disconnect()
        return text

    text = asyncio.run(read_console())
    assert len(re.findall(r"nubes-heartbeat \d+", text)) >= 2, text[-500:]
