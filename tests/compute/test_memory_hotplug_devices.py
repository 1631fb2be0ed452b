"""Memory hotplug (maxMemory slots from the flavor) and PCI / SR-IOV devices assigned by cloud
admins: golden domain XML, the rules, and the admin-only API that says passthrough has not run."""

import dataclasses

import pytest
from django.core.exceptions import ValidationError

import hypervisor as hv
from compute import domain
from compute.models import Cluster, Flavor, Host, HostDevice, Instance
from tests.compute.test_domain_spec import check_golden, instance_of


@pytest.fixture
def hotplug_flavor(db):
    return Flavor.objects.create(name="h1.grow", vcpus=2, ram_mb=2048, disk_gb=20, memory_slots=8, max_ram_mb=8192)


def test_a_hotplug_flavor_gives_max_memory_slots_and_one_numa_cell_golden(hotplug_flavor, image, host_a, project_a):
    instance = instance_of(hotplug_flavor, image, host_a, project_a)
    xml = hv.build_domain_xml(domain.domain_spec(instance, "/var/lib/libvirt/images/root.qcow2"))
    check_golden("memory_hotplug.xml", xml)
    assert '<maxMemory slots="8" unit="KiB">8388608</maxMemory>' in xml
    assert '<cell id="0" cpus="0-3" memory="2097152" unit="KiB"/>' in xml


@pytest.mark.parametrize(
    "fields", [{"memory_slots": 4}, {"memory_slots": 4, "max_ram_mb": 1024}, {"memory_slots": 4, "max_ram_mb": 2048}]
)
def test_hotplug_needs_a_ceiling_above_the_flavors_ram(db, fields):
    with pytest.raises(ValidationError) as info:
        Flavor(name="bad", vcpus=1, ram_mb=2048, disk_gb=1, **fields).clean()
    assert "max_ram_mb" in info.value.message_dict


def test_the_flavor_api_takes_hotplug_settings(api):
    response = api["admin"].post(
        "/api/v1/flavors/",
        {"name": "h2.grow", "vcpus": 1, "ram_mb": 1024, "disk_gb": 1, "memory_slots": 2, "max_ram_mb": 512},
        format="json",
    )
    assert response.status_code == 400 and "max_ram_mb" in response.json()


def seeded_instance(project, flavor, image, host):
    return Instance.objects.create(
        project=project,
        name="gpu <vm>",
        flavor=flavor,
        image=image,
        host=host,
        vcpus=1,
        ram_mb=flavor.ram_mb,
        disk_gb=flavor.disk_gb,
    )


def test_assigned_devices_become_hostdevs_golden_and_define_on_a_simulated_host(flavor, image, host_a, project_a):
    instance = seeded_instance(project_a, flavor, image, host_a)
    HostDevice.objects.create(host=host_a, pci_address="0000:03:10.1", kind="sriov-vf", instance=instance)
    HostDevice.objects.create(host=host_a, pci_address="0000:81:00.0", instance=instance)
    HostDevice.objects.create(host=host_a, pci_address="0000:82:00.0")  # not assigned
    spec = domain.domain_spec(instance, "/var/lib/libvirt/images/root.qcow2")
    assert [d.pci_address for d in spec.hostdevs] == ["0000:03:10.1", "0000:81:00.0"]
    # The golden file uses the fixed instance (stable UUID) with these devices.
    frozen = domain.domain_spec(instance_of(flavor, image, host_a, project_a), "/r.qcow2")
    check_golden("hostdevs.xml", hv.build_domain_xml(dataclasses.replace(frozen, hostdevs=spec.hostdevs)))
    uuid = hv.domain_define(host_a.uri, hv.build_domain_xml(spec))
    assert hv.domain_state(host_a.uri, uuid).state == "shutoff"


def test_a_device_is_assigned_only_on_its_own_host(flavor, image, hosts, project_a):
    instance = seeded_instance(project_a, flavor, image, hosts[0])
    with pytest.raises(ValidationError):
        HostDevice(host=hosts[1], pci_address="0000:03:10.1", instance=instance).full_clean()


def test_only_cloud_admins_see_and_assign_devices_and_the_api_says_it_cannot_run_here(
    api, flavor, image, host_a, project_a
):
    instance = seeded_instance(project_a, flavor, image, host_a)
    assert api["alice"].get("/api/v1/host-devices/").status_code == 403
    response = api["admin"].post(
        "/api/v1/host-devices/", {"host": host_a.pk, "pci_address": "0000:03:10.1", "kind": "sriov-vf"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert "have never run on a device" in response.json()["note"]
    device = response.json()["id"]
    response = api["admin"].patch(f"/api/v1/host-devices/{device}/", {"instance": instance.pk}, format="json")
    assert response.status_code == 200 and response.json()["instance_name"] == "gpu <vm>"
    other = Host.objects.create(name="other", uri="test:///default", cluster=Cluster.objects.create(name="x"))
    response = api["admin"].patch(f"/api/v1/host-devices/{device}/", {"host": other.pk}, format="json")
    assert response.status_code == 400 and "instance" in response.json()
    bad = api["admin"].post("/api/v1/host-devices/", {"host": host_a.pk, "pci_address": "03:10.1"}, format="json")
    assert bad.status_code == 400 and "pci_address" in bad.json()
