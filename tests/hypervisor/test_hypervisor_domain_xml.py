import os
from pathlib import Path

import pytest
from lxml import etree

from hypervisor import (
    CpuFeature,
    DiskSpec,
    DomainSpec,
    HostdevSpec,
    InvalidConfig,
    NicSpec,
    NumaCellSpec,
    VcpuPin,
    build_domain_xml,
    domain_define,
    domain_xml,
    parse_cpuset,
    parse_domain_xml,
)

GOLDEN = Path(__file__).parent / "golden"
UUID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
PORT_ID = "8c1d7e53-0b8a-4c0c-9d5e-2f9f0a6f1a11"

SPECS = {
    "minimal": DomainSpec(name="vm-minimal", memory_kib=262144, uuid=UUID),
    "cpu_qos_pinning_numa": DomainSpec(
        name="vm-tuned",
        uuid=UUID,
        memory_kib=4194304,
        vcpus=4,
        max_vcpus=8,
        max_memory_kib=16777216,
        memory_slots=4,
        instance_id="inst-42",
        project_id="proj-7",
        cpu_mode="custom",
        cpu_model="Broadwell-noTSX",
        cpu_features=(CpuFeature("vmx", "disable"), CpuFeature("pcid")),
        cpu_shares=2048,
        cpu_period=100000,
        cpu_quota=200000,
        vcpu_pins=(VcpuPin(0, "2"), VcpuPin(1, "3"), VcpuPin(2, "18"), VcpuPin(3, "19")),
        emulator_cpuset="0-1",
        numa_cells=(NumaCellSpec(0, "0-1", 2097152), NumaCellSpec(1, "2-3", 2097152)),
        numa_mode="strict",
        numa_nodeset="0-1",
        hugepages=True,
        iothreads=2,
        balloon_stats_period_s=5,
        watchdog_action="reset",
    ),
    "disks": DomainSpec(
        name="vm-disks",
        uuid=UUID,
        memory_kib=1048576,
        iothreads=1,
        disks=(
            DiskSpec(
                "vda",
                path="/var/lib/libvirt/images/root.qcow2",
                io="native",
                iothread=1,
                serial="root-0001",
                boot_order=1,
            ),
            DiskSpec("vdb", type="volume", pool="default", volume="data.qcow2", cache="writeback"),
            DiskSpec(
                "sda",
                type="block",
                device="lun",
                path="/dev/disk/by-id/wwn-0x5000c500a1",
                format="raw",
                bus="scsi",
                shareable=True,
            ),
            DiskSpec("sdb", type="file", path="/srv/raw.img", format="raw", bus="scsi", discard_unmap=False),
            DiskSpec("sdc", device="cdrom", path="/srv/seed.iso", format="raw", bus="sata", cache=None),
        ),
    ),
    "nics": DomainSpec(
        name="vm-nics",
        uuid=UUID,
        memory_kib=1048576,
        vcpus=4,
        nics=(
            NicSpec("52:54:00:AA:BB:01", kind="network", network="default"),
            NicSpec(
                "52:54:00:aa:bb:02",
                kind="bridge",
                bridge="br-int",
                interface_id=PORT_ID,
                vlan_tag=100,
                queues=4,
                checksum_offload=False,
            ),
            NicSpec("52:54:00:aa:bb:03", kind="bridge", bridge="br-provider", vlan_tag=2001),
        ),
    ),
    "hostdev_sriov": DomainSpec(
        name="vm-sriov",
        uuid=UUID,
        memory_kib=2097152,
        hugepages=True,
        hostdevs=(HostdevSpec("0000:3b:02.1"), HostdevSpec("af:00.0")),
    ),
    "kernel_serial_vnc": DomainSpec(
        name="vm-tiny",
        uuid=UUID,
        memory_kib=262144,
        domain_type="qemu",
        kernel="/var/lib/nubes/boot/vmlinuz",
        initrd="/var/lib/nubes/boot/initrd.img",
        cmdline="console=ttyS0 clocksource=acpi_pm",
        serial_log_path="/var/log/nubes/vm-tiny.log",
        vnc_password="s3cret",
        on_reboot="destroy",
        on_crash="restart",
    ),
}


def canonical(xml: str) -> str:
    return etree.canonicalize(xml, strip_text=True)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_it_matches_the_golden_file(name):
    built = build_domain_xml(SPECS[name])
    path = GOLDEN / f"{name}.xml"
    if os.environ.get("NUBES_UPDATE_GOLDEN") == "1":
        path.write_text(built)
    assert canonical(built) == canonical(path.read_text())


def test_it_escapes_xml_metacharacters_in_names():
    nasty = "<a&\"'>"
    xml = build_domain_xml(DomainSpec(name=nasty, memory_kib=1024, title=nasty, description=nasty, instance_id=nasty))
    assert "<a&" not in xml
    info = parse_domain_xml(xml)
    assert (info.name, info.title, info.description, info.instance_id) == (nasty,) * 4


def test_it_adds_a_virtio_scsi_controller_only_when_a_disk_uses_scsi():
    virtio = build_domain_xml(DomainSpec(name="a", memory_kib=1024, disks=(DiskSpec("vda", path="/a.qcow2"),)))
    scsi = build_domain_xml(
        DomainSpec(name="a", memory_kib=1024, disks=(DiskSpec("sda", path="/a.qcow2", bus="scsi"),))
    )
    assert "virtio-scsi" not in virtio
    assert etree.fromstring(scsi).find("devices/controller[@model='virtio-scsi']") is not None


@pytest.mark.parametrize(
    "spec",
    [
        DomainSpec(
            name="a", memory_kib=1024, disks=(DiskSpec("sda", type="file", device="lun", path="/x", bus="scsi"),)
        ),
        DomainSpec(name="a", memory_kib=1024, disks=(DiskSpec("vda", format="vmdk", path="/x"),)),
        DomainSpec(name="a", memory_kib=1024, disks=(DiskSpec("vda", type="volume", pool="p"),)),
        DomainSpec(name="a", memory_kib=1024, disks=(DiskSpec("vda", path="/x", iothread=1),)),
        DomainSpec(
            name="a",
            memory_kib=1024,
            nics=(NicSpec("52:54:00:00:00:01", kind="bridge", bridge="br-int", interface_id="lsp1"),),
        ),
        DomainSpec(name="a", memory_kib=1024, nics=(NicSpec("52:54:00:00:00", network="n"),)),
        DomainSpec(name="a", memory_kib=1024, nics=(NicSpec("52:54:00:00:00:01", network="n", vlan_tag=4095),)),
        DomainSpec(name="a", memory_kib=1024, hostdevs=(HostdevSpec("3b:02"),)),
        DomainSpec(name="a", memory_kib=1024, cpu_mode="custom"),
        DomainSpec(name="a", memory_kib=1024, vcpus=4, max_vcpus=2),
        DomainSpec(name="a", memory_kib=1024, cmdline="console=ttyS0"),
        DomainSpec(name="a", memory_kib=1024, vcpu_pins=(VcpuPin(0, "3-1"),)),
        DomainSpec(name="a", memory_kib=1024, domain_type="xen"),
    ],
    ids=[
        "lun-on-file",
        "bad-format",
        "volume-without-name",
        "undefined-iothread",
        "non-uuid-port",
        "short-mac",
        "vlan-4095",
        "bad-pci",
        "custom-without-model",
        "max-below-current",
        "cmdline-without-kernel",
        "descending-cpuset",
        "xen",
    ],
)
def test_it_rejects_an_inconsistent_spec(spec):
    with pytest.raises(InvalidConfig):
        build_domain_xml(spec)


def test_parse_cpuset_understands_ranges_and_exclusions():
    assert parse_cpuset("0-3,^2,8") == frozenset({0, 1, 3, 8})


def test_it_reads_back_tuning_and_devices():
    info = parse_domain_xml(build_domain_xml(SPECS["cpu_qos_pinning_numa"]))
    assert (info.vcpus, info.max_vcpus) == (4, 8)
    assert (info.cpu_shares, info.cpu_period, info.cpu_quota) == (2048, 100000, 200000)
    assert info.vcpu_pins[2] == VcpuPin(2, "18")
    assert (info.instance_id, info.project_id) == ("inst-42", "proj-7")
    nics = parse_domain_xml(build_domain_xml(SPECS["nics"])).nics
    assert nics[1].interface_id == PORT_ID and nics[1].vlan_tag == 100


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_golden_spec_defines_on_the_test_driver(host_a, name):
    uuid = domain_define(host_a, build_domain_xml(SPECS[name]))
    info = parse_domain_xml(domain_xml(host_a, uuid))
    assert info.name == SPECS[name].name
    assert info.domain_type == "test"  # rewritten at define time, not in the spec


def test_a_lun_of_an_iscsi_pool_is_passed_through_as_a_volume_disk():
    """Raw device mapping without a kernel initiator: libvirt resolves the pool's LUN to QEMU's
    own iSCSI connection, so the disk stays type='volume' with device='lun' on the SCSI bus."""
    spec = DomainSpec(
        name="rdm",
        memory_kib=1024,
        disks=(
            DiskSpec("sda", type="volume", device="lun", pool="san", volume="unit:0:0:1", format="raw", bus="scsi"),
        ),
    )
    disk = etree.fromstring(build_domain_xml(spec)).find("devices/disk")
    assert (disk.get("type"), disk.get("device")) == ("volume", "lun")
    assert disk.find("source").attrib == {"pool": "san", "volume": "unit:0:0:1"}
    assert disk.find("target").attrib == {"dev": "sda", "bus": "scsi"}
    with pytest.raises(InvalidConfig, match="bus 'scsi'"):
        build_domain_xml(
            DomainSpec(
                name="rdm",
                memory_kib=1024,
                disks=(DiskSpec("vda", type="volume", device="lun", pool="san", volume="unit:0:0:1", bus="virtio"),),
            )
        )


def test_disks_stop_the_guest_on_a_storage_error_except_cdroms_and_say_so_when_asked_otherwise():
    spec = DomainSpec(
        name="errors",
        memory_kib=1024,
        disks=(
            DiskSpec("vda", path="/srv/root.qcow2"),
            DiskSpec("vdb", path="/srv/data.raw", format="raw", error_policy="report"),
            DiskSpec("sdc", device="cdrom", format="raw", bus="sata"),
        ),
    )
    drivers = [disk.find("driver") for disk in etree.fromstring(build_domain_xml(spec)).findall("devices/disk")]
    assert [driver.get("error_policy") for driver in drivers] == ["stop", "report", None]
    bad = DomainSpec(name="bad", memory_kib=1024, disks=(DiskSpec("vda", path="/srv/r.qcow2", error_policy="pause"),))
    with pytest.raises(InvalidConfig, match="disk error policy must be one of stop, report, ignore, enospace"):
        build_domain_xml(bad)
