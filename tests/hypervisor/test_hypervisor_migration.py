"""Migration: option mapping to libvirt flags/params, the pre-copy model, and the simulated
move between two test-driver hosts (progress, cancel, the domain ends where it runs)."""

import libvirt
import pytest

from hypervisor import domain_start, domain_state, list_domains
from hypervisor.errors import InvalidConfig, NotSupported, OperationFailed
from hypervisor.migration import (
    MIB,
    MigrationCancelled,
    MigrationControl,
    MigrationOptions,
    migrate_domain,
    migration_flags,
    migration_params,
    precopy_rounds,
)


def no_sleep(_seconds):
    return None


def test_live_options_map_to_libvirt_flags():
    flags = migration_flags(MigrationOptions(auto_converge=True, postcopy=True))
    for flag in (
        libvirt.VIR_MIGRATE_LIVE,
        libvirt.VIR_MIGRATE_AUTO_CONVERGE,
        libvirt.VIR_MIGRATE_POSTCOPY,
        libvirt.VIR_MIGRATE_PERSIST_DEST,
        libvirt.VIR_MIGRATE_UNDEFINE_SOURCE,
        libvirt.VIR_MIGRATE_UNSAFE,
    ):
        assert flags & flag
    assert not flags & libvirt.VIR_MIGRATE_OFFLINE


def test_cold_migration_is_offline_and_copy_storage_is_not_unsafe():
    flags = migration_flags(MigrationOptions(live=False, copy_storage=True))
    assert flags & libvirt.VIR_MIGRATE_OFFLINE and not flags & libvirt.VIR_MIGRATE_LIVE
    assert flags & libvirt.VIR_MIGRATE_NON_SHARED_DISK and not flags & libvirt.VIR_MIGRATE_UNSAFE


def test_params_carry_bandwidth_uri_and_parallel_connections():
    params = migration_params(
        MigrationOptions(bandwidth_mib_s=10, migration_uri="tcp://10.99.0.1", parallel_connections=4)
    )
    assert params == {
        libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 10,
        libvirt.VIR_MIGRATE_PARAM_URI: "tcp://10.99.0.1",
        libvirt.VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS: 4,
    }


def test_it_rejects_a_negative_bandwidth():
    with pytest.raises(InvalidConfig, match="bandwidth"):
        MigrationOptions(bandwidth_mib_s=-1)


def test_precopy_converges_when_the_link_outruns_the_dirty_rate():
    rounds = precopy_rounds(1024 * MIB, 100 * MIB, 10 * MIB, 300, auto_converge=False)
    assert rounds[0][0] == 1024 * MIB
    sizes = [size for size, _, _ in rounds]
    assert sizes == sorted(sizes, reverse=True)
    assert rounds[-1][0] <= 100 * MIB * 0.3


def test_precopy_fails_clearly_when_the_guest_dirties_faster_than_the_link():
    with pytest.raises(OperationFailed, match="does not converge"):
        precopy_rounds(1024 * MIB, 10 * MIB, 50 * MIB, 300, auto_converge=False)


def test_auto_converge_throttles_a_busy_guest_until_it_converges():
    rounds = precopy_rounds(1024 * MIB, 10 * MIB, 12 * MIB, 300, auto_converge=True)
    assert rounds[-1][2] < 12 * MIB


def test_a_simulated_live_migration_moves_the_domain_and_reports_progress(node_uri, small_domain, host_a):
    domain_start(host_a, small_domain)
    host_b = node_uri("host-b")
    seen = []
    result = migrate_domain(
        host_a, host_b, small_domain, MigrationOptions(bandwidth_mib_s=100), seen.append, sleep=no_sleep
    )
    assert result.simulated and result.iterations >= 2 and result.downtime_ms is not None
    assert seen and all(p.simulated for p in seen)
    assert [p.percent for p in seen] == sorted(p.percent for p in seen)
    assert domain_state(host_b, small_domain).state == "running"
    assert small_domain not in {d.uuid for d in list_domains(host_a)}


def test_a_cancelled_simulated_migration_leaves_the_domain_running_on_the_source(node_uri, small_domain, host_a):
    domain_start(host_a, small_domain)
    host_b = node_uri("host-b")
    control = MigrationControl()

    def cancel_after_first(progress):
        control.cancel.set()

    with pytest.raises(MigrationCancelled):
        migrate_domain(host_a, host_b, small_domain, MigrationOptions(), cancel_after_first, control, sleep=no_sleep)
    assert domain_state(host_a, small_domain).state == "running"
    assert small_domain not in {d.uuid for d in list_domains(host_b)}


def test_a_live_migration_of_a_stopped_domain_is_refused(node_uri, small_domain, host_a):
    with pytest.raises(InvalidConfig, match="running"):
        migrate_domain(host_a, node_uri("host-b"), small_domain, MigrationOptions(), no_sleep, sleep=no_sleep)


def test_a_cold_migration_moves_a_stopped_domain(node_uri, small_domain, host_a):
    host_b = node_uri("host-b")
    migrate_domain(host_a, host_b, small_domain, MigrationOptions(live=False), no_sleep, sleep=no_sleep)
    assert domain_state(host_b, small_domain).state == "shutoff"


def test_it_refuses_to_mix_simulated_and_real_hosts(small_domain, host_a):
    with pytest.raises(NotSupported):
        migrate_domain(
            host_a, "qemu+tcp://10.99.0.2/system", small_domain, MigrationOptions(), no_sleep, sleep=no_sleep
        )


# --- copy-storage into another path ---------------------------------------------------------

DISKS_XML = """<domain type='qemu'><name>g</name><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/local/root.qcow2'/>
<backingStore type='file'><format type='qcow2'/><source file='/local/base.qcow2'/></backingStore>
<target dev='vda' bus='virtio'/></disk>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/shared/data.qcow2'/>
<target dev='vdb' bus='virtio'/></disk>
</devices></domain>"""


def test_copy_storage_points_the_copied_disk_at_its_new_file_without_its_backing_chain():
    from lxml import etree

    from hypervisor.migration import retarget_disks

    xml, devs = retarget_disks(DISKS_XML, {"/local/root.qcow2": "/shared/root.qcow2"})
    assert devs == ["vda"]
    disks = etree.fromstring(xml.encode()).findall("devices/disk")
    assert [d.find("source").get("file") for d in disks] == ["/shared/root.qcow2", "/shared/data.qcow2"]
    assert disks[0].find("backingStore") is None and disks[0].find("driver").get("type") == "qcow2"


def test_retargeting_a_disk_the_domain_does_not_have_is_refused():
    from hypervisor.migration import retarget_disks

    with pytest.raises(InvalidConfig, match="no disk at /elsewhere.qcow2"):
        retarget_disks(DISKS_XML, {"/elsewhere.qcow2": "/shared/x.qcow2"})


def test_disk_targets_need_copy_storage():
    with pytest.raises(InvalidConfig, match="copy-storage"):
        MigrationOptions(disk_targets=(("/a", "/b"),))
    assert MigrationOptions(copy_storage=True, disk_targets=(("/a", "/b"),)).disk_targets == (("/a", "/b"),)


SEED_XML = DISKS_XML.replace(
    "</devices>",
    "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/local/g-seed.iso'/>"
    "<target dev='sda' bus='sata'/><readonly/></disk></devices>",
)


def test_a_seed_already_on_the_target_is_pointed_at_but_not_copied():
    from lxml import etree

    from hypervisor.migration import _for_target

    options = MigrationOptions(
        copy_storage=True,
        disk_targets=(("/local/root.qcow2", "/shared/root.qcow2"),),
        file_targets=(("/local/g-seed.iso", "/shared/g-seed.iso"),),
    )
    xml, devs = _for_target(SEED_XML, options)
    assert devs == ["vda"]  # only the root disk goes over NBD
    sources = [d.find("source").get("file") for d in etree.fromstring(xml.encode()).findall("devices/disk")]
    assert sources == ["/shared/root.qcow2", "/shared/data.qcow2", "/shared/g-seed.iso"]
