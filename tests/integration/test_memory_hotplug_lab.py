"""Memory hotplug on a real TCG guest: a live resize within the flavor's max_ram_mb plugs a
pc-dimm (hv.domain_attach_memory), libvirt's live XML carries it, the guest keeps its heartbeat
and - booted with memhp_default_state=online - onlines the memory (the balloon driver's
'available' grows in `virsh dommemstat`)."""

import re
import time

import pytest
from lxml import etree

from compute.models import Flavor, Image, Instance
from tests.integration.conftest import virsh, wait_for_heartbeat
from tests.integration.test_instance_lifecycle import succeeded

pytestmark = pytest.mark.django_db(transaction=True)
BASE_MB, GROWN_MB, CEILING_MB = 256, 384, 512
ONLINE_TIMEOUT_S = 60
KIB_PER_MIB = 1024


def memstat(uri, domain):
    return {k: int(v) for k, v in re.findall(r"^(\w+) (\d+)$", virsh(uri, "dommemstat", domain), re.M)}


@pytest.fixture
def growable_guest(admin_api, lab_cloud, host_a, project_a):
    lab_flavor, lab_image = lab_cloud["flavor"], lab_cloud["image"]
    flavor = Flavor.objects.create(
        name="lab.grow", vcpus=1, ram_mb=BASE_MB, disk_gb=lab_flavor.disk_gb, memory_slots=2, max_ram_mb=CEILING_MB
    )
    image = Image.objects.create(
        name="lab-guest-memhp",
        format=lab_image.format,
        virtual_size_gb=lab_image.virtual_size_gb,
        pool=lab_image.pool,
        volume=lab_image.volume,
        kernel_path=lab_image.kernel_path,
        initrd_path=lab_image.initrd_path,
        kernel_cmdline=f"{lab_image.kernel_cmdline} memhp_default_state=online",
    )
    payload = {"project": project_a.pk, "name": "it-memhp", "flavor": flavor.pk, "image": image.pk, "host": host_a.pk}
    op = succeeded(admin_api.post("/api/v1/instances/", payload, format="json"))
    instance = Instance.objects.get(pk=op.target_id)
    wait_for_heartbeat(instance.serial_log_path)
    yield instance
    succeeded(admin_api.delete(f"/api/v1/instances/{instance.pk}/"))


def test_a_live_resize_hotplugs_a_dimm_the_guest_onlines(admin_api, growable_guest, host_a):
    instance = growable_guest
    grown = Flavor.objects.create(name="lab.grow2", vcpus=1, ram_mb=GROWN_MB, disk_gb=instance.disk_gb)
    before = memstat(host_a.uri, instance.domain_name)
    beat = wait_for_heartbeat(instance.serial_log_path)
    op = succeeded(admin_api.post(f"/api/v1/instances/{instance.pk}/resize/", {"flavor": grown.pk}, format="json"))
    assert op.detail["live"] and "memory hotplugged" in op.message and "simulated" not in op.message

    live = etree.fromstring(virsh(host_a.uri, "dumpxml", instance.domain_name).encode())
    dimms = live.findall("devices/memory[@model='dimm']")
    assert [int(d.findtext("target/size")) for d in dimms] == [(GROWN_MB - BASE_MB) * KIB_PER_MIB]
    assert int(live.findtext("memory")) == GROWN_MB * KIB_PER_MIB
    wait_for_heartbeat(instance.serial_log_path, after=beat + 2)  # still alive after the plug

    deadline = time.monotonic() + ONLINE_TIMEOUT_S
    after = memstat(host_a.uri, instance.domain_name)
    while after.get("available", 0) <= before.get("available", 0) and time.monotonic() < deadline:
        time.sleep(1)
        after = memstat(host_a.uri, instance.domain_name)
    grown_kib = after.get("available", 0) - before.get("available", 0)
    print(f"dommemstat before {before}, after {after}")
    assert grown_kib >= (GROWN_MB - BASE_MB) * KIB_PER_MIB * 9 // 10, (before, after)
    instance.refresh_from_db()
    assert instance.ram_mb == GROWN_MB and instance.state == "active"
