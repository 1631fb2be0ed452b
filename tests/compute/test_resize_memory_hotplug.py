"""A live resize that grows memory plugs a DIMM when the flavor allows memory hotplug (up to its
max_ram_mb); beyond the ceiling, or without slots, it stays a cold resize."""

import pytest
from lxml import etree

import hypervisor as hv
from compute.models import Flavor
from portal.models import Operation, Quota

MIB_KIB = 1024


@pytest.fixture
def grow_flavor(db):
    return Flavor.objects.create(name="h1.grow", vcpus=1, ram_mb=1024, disk_gb=20, memory_slots=4, max_ram_mb=4096)


@pytest.fixture
def running_grow(launch, grow_flavor):
    response, instance = launch(flavor=grow_flavor.pk)
    assert response.status_code == 202 and instance.state == "active", instance.state_reason
    return instance


def resize(api, run_tasks, instance, flavor):
    with run_tasks():
        response = api["alice"].post(f"/api/v1/instances/{instance.pk}/resize/", {"flavor": flavor.pk}, format="json")
    instance.refresh_from_db()
    return response


def test_growing_within_the_ceiling_hotplugs_a_dimm_live(api, run_tasks, running_grow, project_a):
    bigger = Flavor.objects.create(name="h1.grow2", vcpus=1, ram_mb=3072, disk_gb=20, memory_slots=4, max_ram_mb=4096)
    response = resize(api, run_tasks, running_grow, bigger)
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded", op.error
    assert op.detail["live"] and "memory hotplugged (simulated)" in op.message
    assert running_grow.ram_mb == 3072 and running_grow.state == "active"
    root = etree.fromstring(hv.domain_xml(running_grow.host.uri, str(running_grow.uuid), inactive=True).encode())
    assert int(root.findtext("memory")) == 3072 * MIB_KIB
    assert [int(d.findtext("target/size")) for d in root.iterfind("devices/memory")] == [2048 * MIB_KIB]
    assert Quota.objects.get(project=project_a, resource="ram_mb").in_use == 3072


def test_growing_past_the_ceiling_needs_a_cold_resize(api, run_tasks, running_grow):
    huge = Flavor.objects.create(name="h1.huge", vcpus=1, ram_mb=8192, disk_gb=20)
    response = resize(api, run_tasks, running_grow, huge)
    assert response.status_code == 409 and "stop the instance first" in response.json()["detail"]
    assert running_grow.ram_mb == 1024


def test_a_failed_hotplug_gives_the_quota_back(api, run_tasks, running_grow, project_a, monkeypatch):
    def refused(*args, **kwargs):
        raise hv.InvalidConfig("all 4 memory slots are in use")

    monkeypatch.setattr(hv, "domain_attach_memory", refused)
    bigger = Flavor.objects.create(name="h1.grow2", vcpus=1, ram_mb=2048, disk_gb=20)
    response = resize(api, run_tasks, running_grow, bigger)
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "failed" and "slots" in op.error
    assert running_grow.ram_mb == 1024
    assert Quota.objects.get(project=project_a, resource="ram_mb").in_use == 1024
