"""The domain XML a flavor produces, checked against golden files (regenerate with
NUBES_REGEN_GOLDEN=1 and review the diff)."""

import os
import uuid
from pathlib import Path

import pytest

import hypervisor as hv
from compute import domain
from compute.models import Instance
from portal.models import Project

GOLDEN = Path(__file__).parent / "golden"
FIXED_UUID = uuid.UUID("6c0a5f8e-1d2b-4c3d-9e4f-a1b2c3d4e5f6")


def instance_of(flavor, image, host, _project, **fields):
    # Fixed keys (never the database's) so the golden files do not depend on row order.
    project = Project(pk=42, name="acme")
    instance = Instance(
        pk=7,
        uuid=FIXED_UUID,
        project=project,
        name="web <1> & co",
        flavor=flavor,
        image=image,
        host=host,
        vcpus=flavor.vcpus,
        ram_mb=flavor.ram_mb,
        disk_gb=flavor.disk_gb,
        **fields,
    )
    instance.set_vnc_password("s3cretVNCpass")
    return instance


def check_golden(name, xml):
    path = GOLDEN / name
    if os.environ.get("NUBES_REGEN_GOLDEN") == "1":
        path.write_text(xml)
    assert xml == path.read_text()


def test_a_pinned_numa_flavor_gives_cputune_vcpupin_numa_cells_and_devices(pinned_flavor, image, host_a, project_a):
    instance = instance_of(
        pinned_flavor,
        image,
        host_a,
        project_a,
        pinned_cpus=[0, 1, 2, 3],
        serial_log_path="/var/log/libvirt/qemu/x-serial.log",
    )
    xml = hv.build_domain_xml(domain.domain_spec(instance, "/var/lib/libvirt/images/root.qcow2"))
    check_golden("pinned_numa.xml", xml)


def test_a_shared_flavor_gets_vcpu_hotplug_headroom_and_a_balloon_target(flavor, image, host_a, project_a):
    instance = instance_of(flavor, image, host_a, project_a, balloon_mb=1024)
    xml = hv.build_domain_xml(domain.domain_spec(instance, "/var/lib/libvirt/images/root.qcow2"))
    check_golden("shared_small.xml", xml)


@pytest.mark.parametrize("limit, quota", [(50, 50_000), (100, 100_000), (1, 1_000)])
def test_a_cpu_limit_becomes_a_cfs_quota(flavor, image, host_a, project_a, limit, quota):
    instance = instance_of(flavor, image, host_a, project_a, cpu_limit_pct=limit)
    spec = domain.domain_spec(instance, "/x.qcow2")
    assert (spec.cpu_period, spec.cpu_quota) == (100_000, quota)


def test_the_vnc_password_is_stored_encrypted(flavor, image, host_a, project_a):
    instance = instance_of(flavor, image, host_a, project_a)
    assert "s3cretVNCpass" not in instance.vnc_password_encrypted
    assert domain.domain_spec(instance, "/x.qcow2").vnc_password == "s3cretVN"
