"""Disk XML for attach (golden files), attach / detach / resize simulated on test hosts, and
the modelled block jobs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree

from hypervisor import (
    DiskSpec,
    GuestAgentUnavailable,
    InvalidConfig,
    block_copy,
    block_job,
    block_job_abort,
    block_pull,
    build_disk_xml,
    disk_attach,
    disk_detach,
    domain_fstrim,
    domain_xml,
    forget_simulated_jobs,
    parse_domain_xml,
    volume_create,
    volume_info,
    volume_rebase,
    volume_resize,
)

GOLDEN = Path(__file__).parent / "golden"
DISKS = {
    "disk_rdm_lun": DiskSpec(
        target_dev="sdb",
        type="block",
        device="lun",
        path="/dev/disk/by-id/wwn-0x5000c500a1b2c3d4",
        format="raw",
        bus="scsi",
        cache="none",
        serial="nubes-rdm-1",
    ),
    "disk_rdm_disk": DiskSpec(
        target_dev="vdc", type="block", device="disk", path="/dev/sdb", format="raw", bus="virtio", cache="none"
    ),
    "disk_volume_shareable_ro": DiskSpec(
        target_dev="vdb",
        path="/var/lib/libvirt/images/nubes-vol-1",
        format="qcow2",
        cache="writeback",
        readonly=True,
        shareable=True,
        serial="nubes-vol-1",
    ),
}


def canonical(xml: str) -> str:
    return etree.canonicalize(xml, strip_text=True)


@pytest.fixture(autouse=True)
def no_jobs_left():
    forget_simulated_jobs()
    yield
    forget_simulated_jobs()


@pytest.mark.parametrize("name", sorted(DISKS))
def test_disk_xml_matches_the_golden_file(name):
    built = build_disk_xml(DISKS[name])
    path = GOLDEN / f"{name}.xml"
    if os.environ.get("NUBES_UPDATE_GOLDEN") == "1":
        path.write_text(built)
    assert canonical(built) == canonical(path.read_text())


def test_a_lun_needs_the_scsi_bus():
    with pytest.raises(InvalidConfig):
        build_disk_xml(DiskSpec(target_dev="vdb", type="block", device="lun", path="/dev/sdb", format="raw"))


def test_attach_then_detach_changes_the_definition_on_a_test_host(host_a, small_domain):
    change = disk_attach(host_a, small_domain, DISKS["disk_volume_shareable_ro"])
    assert change.simulated and not change.live
    targets = [d.target_dev for d in parse_domain_xml(domain_xml(host_a, small_domain, inactive=True)).disks]
    assert "vdb" in targets
    disk_detach(host_a, small_domain, "vdb")
    targets = [d.target_dev for d in parse_domain_xml(domain_xml(host_a, small_domain, inactive=True)).disks]
    assert "vdb" not in targets


def test_detaching_a_disk_the_domain_lacks_is_refused(host_a, small_domain):
    with pytest.raises(InvalidConfig):
        disk_detach(host_a, small_domain, "vdz")


def test_a_simulated_resize_grows_and_never_shrinks(host_a):
    volume_create(host_a, "default", "grow", 1 << 30)
    assert volume_resize(host_a, "default", "grow", 2 << 30).capacity_bytes == 2 << 30
    with pytest.raises(InvalidConfig):
        volume_resize(host_a, "default", "grow", 1 << 30)


def test_a_simulated_rebase_changes_the_backing_file(host_a):
    base = volume_create(host_a, "default", "base", 1 << 30)
    volume_create(host_a, "default", "top", 1 << 30, backing_path=base.path)
    assert volume_rebase(host_a, "default", "top", None).backing_path is None
    assert volume_info(host_a, "default", "top").backing_path is None


def test_fstrim_explains_a_missing_guest_agent(host_a, small_domain):
    with pytest.raises(GuestAgentUnavailable, match="guest agent"):
        domain_fstrim(host_a, small_domain)


def test_a_modelled_pull_advances_then_ends(host_a, small_domain):
    block_pull(host_a, small_domain, "vda")
    seen = []
    while (job := block_job(host_a, small_domain, "vda")) is not None and job.cur < job.end:
        seen.append(job.percent)
    assert seen == sorted(seen) and seen[0] > 0
    assert block_job(host_a, small_domain, "vda") is None


def test_a_modelled_copy_pivots_to_the_new_file(host_a, small_domain):
    disk_attach(host_a, small_domain, DiskSpec(target_dev="vdb", path="/var/lib/libvirt/images/old"))
    block_copy(host_a, small_domain, "vdb", "/srv/fast/new")
    while not block_job(host_a, small_domain, "vdb").ready:
        pass
    block_job_abort(host_a, small_domain, "vdb", pivot=True)
    disks = {d.target_dev: d.source for d in parse_domain_xml(domain_xml(host_a, small_domain, inactive=True)).disks}
    assert disks["vdb"] == "/srv/fast/new"
    assert block_job(host_a, small_domain, "vdb") is None


def test_cancelling_a_modelled_copy_keeps_the_old_file(host_a, small_domain):
    disk_attach(host_a, small_domain, DiskSpec(target_dev="vdb", path="/var/lib/libvirt/images/old"))
    block_copy(host_a, small_domain, "vdb", "/srv/fast/new")
    block_job(host_a, small_domain, "vdb")
    block_job_abort(host_a, small_domain, "vdb")
    disks = {d.target_dev: d.source for d in parse_domain_xml(domain_xml(host_a, small_domain, inactive=True)).disks}
    assert disks["vdb"] == "/var/lib/libvirt/images/old"


def test_the_disks_snapshot_xml_matches_the_golden_file():
    from hypervisor import build_disks_snapshot_xml

    built = build_disks_snapshot_xml(
        ["vda", "vdb", "vdc"], {"vda": "/var/lib/libvirt/images/root-l1", "vdb": "/var/lib/libvirt/images/vol-l1"}
    )
    path = GOLDEN / "disks_snapshot_external.xml"
    if os.environ.get("NUBES_UPDATE_GOLDEN") == "1":
        path.write_text(built)
    assert canonical(built) == canonical(path.read_text())


def test_the_disks_snapshot_xml_refuses_a_disk_the_domain_lacks():
    from hypervisor import build_disks_snapshot_xml

    with pytest.raises(InvalidConfig, match="vdz"):
        build_disks_snapshot_xml(["vda"], {"vdz": "/var/lib/libvirt/images/x"})


def test_several_disks_move_to_their_overlays_at_once_on_a_test_host(host_a, small_domain):
    from hypervisor import disks_snapshot_external, domain_has_guest_agent

    disk_attach(host_a, small_domain, DiskSpec(target_dev="vda", path="/var/lib/libvirt/images/root"))
    disk_attach(host_a, small_domain, DiskSpec(target_dev="vdb", path="/var/lib/libvirt/images/vol"))
    change = disks_snapshot_external(
        host_a, small_domain, {"vda": "/var/lib/libvirt/images/root-l1", "vdb": "/var/lib/libvirt/images/vol-l1"}
    )
    assert change.simulated and not change.live
    sources = {d.target_dev: d.source for d in parse_domain_xml(domain_xml(host_a, small_domain, inactive=True)).disks}
    assert sources == {"vda": "/var/lib/libvirt/images/root-l1", "vdb": "/var/lib/libvirt/images/vol-l1"}
    assert domain_has_guest_agent(host_a, small_domain)  # every built domain has the channel
