"""VM-level HA for a hung guest on the lab: an HA instance of the service guest image (Debian with
qemu-guest-agent, lab/service-guest) runs on host A, managed by Nubes. The VM heartbeat hears its
agent once; then the guest hangs: its QEMU process is stopped (SIGSTOP), so libvirt still says
"running" but nothing in the guest runs and the agent never answers. After the configured
misses in a row the beat hard-resets it: a system Operation (instance.reboot, ha) and a vm-hung
HA event; a new QEMU process runs the guest (its boot is not waited for: one boot under TCG
is most of this test's time). The stopped process is continued or gone
whatever happens, and the instance and its image are removed.

Skipped, with the reason printed, when the lab is not up or the service guest image is not
built (`lab/service-guest/build.sh`, about 15 min once, cached by recipe)."""

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from django.core.cache import cache

import hypervisor as hv
from compute.models import Flavor, HaPriority, Image, Instance
from portal import lab as lab_module
from portal.models import Operation
from scheduler import choices as c
from scheduler import conf
from scheduler.models import HaEvent
from scheduler.services import recommendations
from scheduler.tasks import guest_heartbeat
from scheduler.tasks import ha as ha_tasks
from tests.integration.conftest import pool_path, virsh
from tests.integration.test_service_guest_lab import BOOT_LIMIT_S

pytestmark = pytest.mark.django_db(transaction=True)
IMAGE_DISK_GB = 3  # the service image's root filesystem (NUBES_SERVICE_GUEST_SIZE)
QEMU = "qemu-system-x86"
IMAGE_ENV = Path(__file__).resolve().parents[2] / "lab" / "build" / "service-guest" / "image.env"


def _image():
    """The built service guest's files (lab/service-guest/build.sh's image.env)."""
    if not IMAGE_ENV.exists():
        pytest.skip(f"the service guest image is not built ({IMAGE_ENV} missing): run lab/service-guest/build.sh")
    values = {}
    for line in IMAGE_ENV.read_text().splitlines():
        key, _, value = line.partition("=")
        values[key] = value.strip('"')
    return values


def qemu_pid(domain):
    """The guest's QEMU process on host A (the root namespaces), checked by its program name."""
    pid = int(Path(f"/run/libvirt/qemu/{domain}.pid").read_text().strip())
    assert Path(f"/proc/{pid}/comm").read_text().strip() == QEMU
    return pid


def gone(pid):
    """Ended: no such process, or a zombie waiting for its parent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def answers(uri, uuid_):
    try:
        hv.guest_ping(uri, uuid_, timeout=conf.vm_heartbeat_timeout_s())
    except (hv.GuestAgentTimeout, hv.GuestAgentUnavailable):
        return False
    return True


def wait_for_agent(uri, uuid_):
    started = time.monotonic()
    while time.monotonic() - started < BOOT_LIMIT_S:
        if answers(uri, uuid_):
            return time.monotonic() - started
        time.sleep(2)
    pytest.fail(f"the guest agent did not answer within {BOOT_LIMIT_S} s")


@pytest.fixture
def service_image(lab, lab_cloud, admin_api, host_a):
    """The service image as a Nubes image: a qcow2 overlay of the built root in the shared pool."""
    built = _image()
    volume = f"it-svc-{uuid.uuid4().hex[:6]}.qcow2"
    path = pool_path(lab, lab_module.SHARED_POOL) / volume
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", built["ROOT"], str(path)], check=True
    )
    virsh(host_a.uri, "pool-refresh", lab_module.SHARED_POOL)
    try:
        yield Image.objects.create(
            name=volume,
            volume=volume,
            pool=lab_module.SHARED_POOL,
            virtual_size_gb=IMAGE_DISK_GB,
            visibility="public",
            kernel_path=built["KERNEL"],
            initrd_path=built["INITRD"],
            kernel_cmdline=built["CMDLINE"],
        )
    finally:
        path.unlink(missing_ok=True)
        virsh(host_a.uri, "pool-refresh", lab_module.SHARED_POOL)


@pytest.mark.timeout(BOOT_LIMIT_S + 300)  # one TCG boot of the Debian guest, then the misses and the reset
def test_a_guest_whose_agent_stops_answering_is_reset_by_ha(admin_api, lab_cloud, host_a, project_a, service_image):
    recommendations.update_settings(None, lab_cloud["cluster"], ha_enabled=True)
    flavor = Flavor.objects.create(name="it.svc", vcpus=1, ram_mb=1024, disk_gb=IMAGE_DISK_GB)
    payload = {"project": project_a.pk, "name": f"it-hung-{uuid.uuid4().hex[:6]}", "flavor": flavor.pk}
    response = admin_api.post(
        "/api/v1/instances/", {**payload, "image": service_image.pk, "host": host_a.pk}, format="json"
    )
    assert response.status_code == 202, response.content
    instance = Instance.objects.get(pk=Operation.objects.get(pk=response.json()["id"]).target_id)
    uri, domain_uuid = host_a.uri, str(instance.uuid)
    stopped = None
    try:
        assert instance.state == "active", instance.events.last()
        marked = admin_api.post(
            f"/api/v1/instances/{instance.pk}/set-ha/", {"ha_priority": HaPriority.HIGH}, format="json"
        )
        assert marked.status_code == 200, marked.content
        boot_s = wait_for_agent(uri, domain_uuid)
        ha_tasks.vm_heartbeat()
        assert cache.get(guest_heartbeat.KEY.format(instance.pk)) == {"seen": True, "missed": 0}

        stopped = qemu_pid(instance.domain_name)
        os.kill(stopped, signal.SIGSTOP)  # the whole guest hangs; libvirt's state stays "running"
        hung_at = time.monotonic()
        for beat in range(1, conf.vm_heartbeat_misses() + 1):
            assert not Operation.objects.filter(kind="instance.reboot").exists(), f"reset after {beat - 1} misses"
            assert hv.domain_state(uri, domain_uuid).state == "running"
            ha_tasks.vm_heartbeat()
        reset_s = time.monotonic() - hung_at

        reset = Operation.objects.get(kind="instance.reboot", target_id=str(instance.pk))
        assert reset.status == "succeeded", reset.error or reset.message
        assert reset.requester is None and reset.detail["ha"] and reset.detail["kind"] == "hard"
        assert "no guest-agent heartbeat" in reset.message
        event = HaEvent.objects.get(kind=c.HaEventKind.VM_HUNG, instance=instance)
        assert event.operation_id == reset.pk and event.host_id == host_a.pk
        assert gone(stopped)  # the hung process was killed, a new one runs
        assert qemu_pid(instance.domain_name) != stopped
        stopped = None
        assert virsh(uri, "domstate", instance.domain_name).strip() == "running"

        print(
            f"\nhung-guest HA on the lab: agent first answered {boot_s:.0f} s after create; hung guest reset "
            f"{reset_s:.1f} s after it stopped ({conf.vm_heartbeat_misses()} pings of at most "
            f"{conf.vm_heartbeat_timeout_s()} s, the hung QEMU killed and a new one started); "
            f"load average {os.getloadavg()[0]:.1f}"
        )
    finally:
        if stopped is not None and not gone(stopped):
            os.kill(stopped, signal.SIGCONT)
        Instance.objects.filter(pk=instance.pk).update(ha_priority=HaPriority.DISABLED)
        deleted = admin_api.delete(f"/api/v1/instances/{instance.pk}/")
        if deleted.status_code != 202 or Operation.objects.get(pk=deleted.json()["id"]).status != "succeeded":
            virsh(uri, "destroy", instance.domain_name)
            virsh(uri, "undefine", instance.domain_name)
