"""Domain XML: a plain ``DomainSpec`` in, libvirt XML out (built with lxml). Reading a domain's
XML back is in ``domain_read.py``.

The spec describes what a real KVM/QEMU host should run. Adapting it to libvirt's test
driver happens at define time (``adapt_for_test_driver``), never here.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from lxml import etree

from .errors import InvalidConfig

NUBES_NS = "https://nubes.dev/xmlns/instance/1"
GUEST_AGENT_CHANNEL = "org.qemu.guest_agent.0"  # the name qemu-ga opens in the guest
NUBES_PREFIX = "nubes"

DOMAIN_TYPES = ("kvm", "qemu", "test")
CPU_MODES = ("host-model", "host-passthrough", "custom")
NUMA_MODES = ("strict", "preferred", "interleave")
DISK_TYPES = ("file", "block", "volume")
DISK_DEVICES = ("disk", "lun", "cdrom")
DISK_FORMATS = ("qcow2", "raw")
DISK_BUSES = ("virtio", "scsi", "sata")
DISK_CACHES = ("none", "writeback", "writethrough", "directsync", "unsafe")
DISK_ERROR_POLICIES = ("stop", "report", "ignore", "enospace")
DISK_IO = ("native", "threads", "io_uring")
NIC_KINDS = ("network", "bridge")
WATCHDOG_ACTIONS = ("reset", "shutdown", "poweroff", "pause", "none", "dump", "inject-nmi")
LIFECYCLE_ACTIONS = ("destroy", "restart", "preserve", "rename-restart", "coredump-destroy", "coredump-restart")
CPU_FEATURE_POLICIES = ("force", "require", "optional", "disable", "forbid")

_PCI_ADDRESS = re.compile(
    r"^(?:(?P<domain>[0-9a-fA-F]{4}):)?(?P<bus>[0-9a-fA-F]{2}):"
    r"(?P<slot>[0-9a-fA-F]{2})\.(?P<function>[0-7])$"
)
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


@dataclass(frozen=True)
class DiskSpec:
    target_dev: str  # vda, sda, ...
    type: str = "file"  # file | block | volume
    device: str = "disk"  # disk | lun | cdrom
    path: str | None = None  # file or block device path
    pool: str | None = None  # for type='volume'
    volume: str | None = None
    format: str = "qcow2"
    bus: str = "virtio"
    cache: str | None = "none"
    discard_unmap: bool = True
    io: str | None = None
    # What QEMU does when the disk's storage fails a read or write: "stop" pauses the guest (it
    # resumes once the storage answers, nothing lost); QEMU's own default reports reads to the guest.
    error_policy: str | None = "stop"
    readonly: bool = False
    shareable: bool = False
    serial: str | None = None
    iothread: int | None = None
    boot_order: int | None = None


@dataclass(frozen=True)
class NicSpec:
    mac: str
    kind: str = "network"  # network (a libvirt network) | bridge (an OVS bridge)
    network: str | None = None
    bridge: str | None = None
    interface_id: str | None = None  # a UUID (libvirt insists): the OVN logical port name
    vlan_tag: int | None = None
    model: str = "virtio"
    queues: int | None = None  # multiqueue virtio-net
    checksum_offload: bool = True  # False: host/guest csum off (needed on userspace OVS)


@dataclass(frozen=True)
class HostdevSpec:
    pci_address: str  # 0000:03:10.1, a PF or an SR-IOV VF


@dataclass(frozen=True)
class VcpuPin:
    vcpu: int
    cpuset: str  # libvirt cpuset syntax: "2", "0-3,^2"


@dataclass(frozen=True)
class CpuFeature:
    name: str
    policy: str = "require"


@dataclass(frozen=True)
class NumaCellSpec:
    id: int
    cpus: str  # guest vCPUs in cpuset syntax
    memory_kib: int


@dataclass(frozen=True)
class DomainSpec:
    name: str
    memory_kib: int
    uuid: str | None = None
    title: str | None = None
    description: str | None = None
    instance_id: str | None = None  # written into our metadata element
    project_id: str | None = None
    domain_type: str = "kvm"
    arch: str = "x86_64"
    machine: str | None = None
    vcpus: int = 1
    max_vcpus: int | None = None  # > vcpus allows vCPU hotplug
    current_memory_kib: int | None = None  # balloon target at boot
    max_memory_kib: int | None = None  # with memory_slots: memory hotplug
    memory_slots: int = 0
    cpu_mode: str | None = None
    cpu_model: str | None = None  # for cpu_mode='custom' (a cluster baseline)
    cpu_features: tuple[CpuFeature, ...] = ()
    cpu_shares: int | None = None
    cpu_period: int | None = None
    cpu_quota: int | None = None
    vcpu_pins: tuple[VcpuPin, ...] = ()
    emulator_cpuset: str | None = None
    numa_cells: tuple[NumaCellSpec, ...] = ()
    numa_mode: str | None = None
    numa_nodeset: str | None = None
    hugepages: bool = False
    balloon_stats_period_s: int | None = 10
    iothreads: int = 0
    disks: tuple[DiskSpec, ...] = ()
    nics: tuple[NicSpec, ...] = ()
    hostdevs: tuple[HostdevSpec, ...] = ()
    watchdog_action: str | None = None  # i6300esb with this action
    # The QEMU guest agent's virtio-serial channel (org.qemu.guest_agent.0): harmless without an
    # agent in the guest (libvirt then reports it "not connected"), needed for fstrim, quiesced
    # snapshots and the managed services' scripts. Every guest gets it, as oVirt does.
    guest_agent: bool = True
    serial_log_path: str | None = None
    serial_console: bool = True
    vnc: bool = True
    vnc_password: str | None = None
    vnc_listen: str = "127.0.0.1"  # the host's address the console proxy reaches
    kernel: str | None = None  # direct kernel boot
    initrd: str | None = None
    cmdline: str | None = None
    boot_devices: tuple[str, ...] = ("hd",)
    on_poweroff: str = "destroy"
    on_reboot: str = "restart"
    on_crash: str = "destroy"


def parse_cpuset(cpuset: str) -> frozenset[int]:
    """CPU numbers of a libvirt cpuset string such as ``0-3,^2,8``."""
    included: set[int] = set()
    excluded: set[int] = set()
    for raw in cpuset.split(","):
        part = raw.strip()
        if not part:
            raise InvalidConfig(f"empty element in cpuset {cpuset!r}")
        target = excluded if part.startswith("^") else included
        part = part.lstrip("^")
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise InvalidConfig(f"bad cpuset {cpuset!r}")
        first, last = int(low), int(high or low)
        if last < first:
            raise InvalidConfig(f"descending range in cpuset {cpuset!r}")
        target.update(range(first, last + 1))
    return frozenset(included - excluded)


def _choice(what: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise InvalidConfig(f"{what} must be one of {', '.join(allowed)}; got {value!r}")


def _sub(parent: etree._Element, tag: str, text: str | int | None = None, **attrs: str | int | None) -> etree._Element:
    element = etree.SubElement(parent, tag, {k: str(v) for k, v in attrs.items() if v is not None})
    if text is not None:
        element.text = str(text)
    return element


def _validate(spec: DomainSpec) -> None:
    if not spec.name or "/" in spec.name:
        raise InvalidConfig(f"invalid domain name {spec.name!r}")
    if spec.memory_kib <= 0 or spec.vcpus <= 0:
        raise InvalidConfig("memory_kib and vcpus must be positive")
    if spec.max_vcpus is not None and spec.max_vcpus < spec.vcpus:
        raise InvalidConfig("max_vcpus must be >= vcpus")
    if spec.max_memory_kib is not None and spec.max_memory_kib < spec.memory_kib:
        raise InvalidConfig("max_memory_kib must be >= memory_kib")
    _choice("domain_type", spec.domain_type, DOMAIN_TYPES)
    _choice("cpu_mode", spec.cpu_mode, CPU_MODES)
    _choice("numa_mode", spec.numa_mode, NUMA_MODES)
    _choice("watchdog_action", spec.watchdog_action, WATCHDOG_ACTIONS)
    for action in (spec.on_poweroff, spec.on_reboot, spec.on_crash):
        _choice("lifecycle action", action, LIFECYCLE_ACTIONS)
    if spec.cpu_mode == "custom" and not spec.cpu_model:
        raise InvalidConfig("cpu_mode 'custom' needs cpu_model")
    for feature in spec.cpu_features:
        _choice("cpu feature policy", feature.policy, CPU_FEATURE_POLICIES)
    for cpuset in [p.cpuset for p in spec.vcpu_pins] + [spec.emulator_cpuset, spec.numa_nodeset]:
        if cpuset is not None:
            parse_cpuset(cpuset)
    for disk in spec.disks:
        _validate_disk(disk, spec.iothreads)
    for nic in spec.nics:
        _validate_nic(nic)
    if (spec.initrd or spec.cmdline) and not spec.kernel:
        raise InvalidConfig("initrd and cmdline need a kernel")


def _validate_disk(disk: DiskSpec, iothreads: int) -> None:
    _choice("disk type", disk.type, DISK_TYPES)
    _choice("disk device", disk.device, DISK_DEVICES)
    _choice("disk format", disk.format, DISK_FORMATS)
    _choice("disk bus", disk.bus, DISK_BUSES)
    _choice("disk cache", disk.cache, DISK_CACHES)
    _choice("disk io", disk.io, DISK_IO)
    _choice("disk error policy", disk.error_policy, DISK_ERROR_POLICIES)
    if disk.type == "volume" and not (disk.pool and disk.volume):
        raise InvalidConfig(f"disk {disk.target_dev}: type 'volume' needs pool and volume")
    if disk.type != "volume" and not disk.path and disk.device != "cdrom":
        raise InvalidConfig(f"disk {disk.target_dev}: needs a source path")
    # A LUN is passed through as a SCSI device: a host block device, or a volume of an iSCSI
    # pool (libvirt turns it into QEMU's own iSCSI connection: raw device mapping, no initiator).
    if disk.device == "lun" and (disk.type not in ("block", "volume") or disk.bus != "scsi"):
        raise InvalidConfig(f"disk {disk.target_dev}: a lun needs type 'block' or 'volume' and bus 'scsi'")
    if disk.iothread is not None and not 1 <= disk.iothread <= iothreads:
        raise InvalidConfig(f"disk {disk.target_dev}: iothread {disk.iothread} is not defined")


def _validate_nic(nic: NicSpec) -> None:
    _choice("nic kind", nic.kind, NIC_KINDS)
    if not _MAC.match(nic.mac):
        raise InvalidConfig(f"invalid MAC address {nic.mac!r}")
    if nic.kind == "network" and not nic.network:
        raise InvalidConfig("a 'network' NIC needs a network name")
    if nic.kind == "bridge" and not nic.bridge:
        raise InvalidConfig("a 'bridge' NIC needs a bridge name")
    if nic.interface_id is not None:
        try:
            uuid.UUID(nic.interface_id)
        except ValueError as exc:
            raise InvalidConfig(f"interface_id must be a UUID, got {nic.interface_id!r}") from exc
    if nic.vlan_tag is not None and not 1 <= nic.vlan_tag <= 4094:
        raise InvalidConfig(f"VLAN tag {nic.vlan_tag} outside 1-4094")


def build_domain_xml(spec: DomainSpec) -> str:
    """Libvirt domain XML for ``spec``; raises InvalidConfig for an inconsistent spec."""
    _validate(spec)
    root = etree.Element("domain", type=spec.domain_type)
    _sub(root, "name", spec.name)
    if spec.uuid:
        _sub(root, "uuid", spec.uuid)
    if spec.title:
        _sub(root, "title", spec.title)
    if spec.description:
        _sub(root, "description", spec.description)
    if spec.instance_id or spec.project_id:
        _sub(root, "metadata").append(metadata_element(spec.instance_id, spec.project_id))
    _add_memory(root, spec)
    _sub(
        root,
        "vcpu",
        spec.max_vcpus or spec.vcpus,
        placement="static",
        current=spec.vcpus if spec.max_vcpus and spec.max_vcpus != spec.vcpus else None,
    )
    if spec.iothreads:
        _sub(root, "iothreads", spec.iothreads)
    _add_cputune(root, spec)
    if spec.numa_mode or spec.numa_nodeset:
        numatune = _sub(root, "numatune")
        _sub(numatune, "memory", mode=spec.numa_mode or "strict", nodeset=spec.numa_nodeset)
    _add_os(root, spec)
    _sub(_sub(root, "features"), "acpi")
    _add_cpu(root, spec)
    clock = _sub(root, "clock", offset="utc")
    # HPET froze guests after live migration on our hosts (REALITY.md).
    _sub(clock, "timer", name="hpet", present="no")
    _sub(root, "on_poweroff", spec.on_poweroff)
    _sub(root, "on_reboot", spec.on_reboot)
    _sub(root, "on_crash", spec.on_crash)
    _add_devices(root, spec)
    return etree.tostring(root, pretty_print=True, encoding="unicode")


def metadata_element(instance_id: str | None, project_id: str | None, *, namespaced: bool = True) -> etree._Element:
    """Our ``<nubes:instance>`` metadata element; virDomainSetMetadata wants it without
    the namespace (libvirt adds it), hence ``namespaced=False``."""
    ns = f"{{{NUBES_NS}}}" if namespaced else ""
    instance = etree.Element(f"{ns}instance", nsmap={NUBES_PREFIX: NUBES_NS} if ns else None)
    if instance_id:
        _sub(instance, f"{ns}id", instance_id)
    if project_id:
        _sub(instance, f"{ns}project", project_id)
    return instance


def _add_memory(root: etree._Element, spec: DomainSpec) -> None:
    if spec.max_memory_kib and spec.memory_slots:
        _sub(root, "maxMemory", spec.max_memory_kib, slots=spec.memory_slots, unit="KiB")
    _sub(root, "memory", spec.memory_kib, unit="KiB")
    _sub(root, "currentMemory", spec.current_memory_kib or spec.memory_kib, unit="KiB")
    if spec.hugepages:
        _sub(_sub(root, "memoryBacking"), "hugepages")


def _add_cputune(root: etree._Element, spec: DomainSpec) -> None:
    if not (spec.cpu_shares or spec.cpu_period or spec.cpu_quota or spec.vcpu_pins or spec.emulator_cpuset):
        return
    cputune = _sub(root, "cputune")
    if spec.cpu_shares:
        _sub(cputune, "shares", spec.cpu_shares)
    if spec.cpu_period:
        _sub(cputune, "period", spec.cpu_period)
    if spec.cpu_quota:
        _sub(cputune, "quota", spec.cpu_quota)
    for pin in spec.vcpu_pins:
        _sub(cputune, "vcpupin", vcpu=pin.vcpu, cpuset=pin.cpuset)
    if spec.emulator_cpuset:
        _sub(cputune, "emulatorpin", cpuset=spec.emulator_cpuset)


def _add_os(root: etree._Element, spec: DomainSpec) -> None:
    os_el = _sub(root, "os")
    _sub(os_el, "type", "hvm", arch=spec.arch, machine=spec.machine)
    if spec.kernel:
        _sub(os_el, "kernel", spec.kernel)
        if spec.initrd:
            _sub(os_el, "initrd", spec.initrd)
        if spec.cmdline:
            _sub(os_el, "cmdline", spec.cmdline)
    elif not any(d.boot_order for d in spec.disks):
        for dev in spec.boot_devices:
            _sub(os_el, "boot", dev=dev)


def _add_cpu(root: etree._Element, spec: DomainSpec) -> None:
    if not (spec.cpu_mode or spec.numa_cells):
        return
    cpu = _sub(
        root,
        "cpu",
        mode=spec.cpu_mode,
        match="exact" if spec.cpu_mode == "custom" else None,
        check="partial" if spec.cpu_mode == "host-model" else None,
    )
    if spec.cpu_mode == "custom":
        _sub(cpu, "model", spec.cpu_model, fallback="forbid")
    for feature in spec.cpu_features:
        _sub(cpu, "feature", policy=feature.policy, name=feature.name)
    if spec.numa_cells:
        numa = _sub(cpu, "numa")
        for cell in spec.numa_cells:
            _sub(
                numa,
                "cell",
                id=cell.id,
                cpus=cell.cpus,
                memory=cell.memory_kib,
                unit="KiB",
                memAccess="shared" if spec.hugepages else None,
            )


def _add_devices(root: etree._Element, spec: DomainSpec) -> None:
    devices = _sub(root, "devices")
    if any(d.bus == "scsi" for d in spec.disks):
        _sub(devices, "controller", type="scsi", index=0, model="virtio-scsi")
    for disk in spec.disks:
        _add_disk(devices, disk)
    for nic in spec.nics:
        _add_nic(devices, nic)
    for hostdev in spec.hostdevs:
        _add_hostdev(devices, hostdev)
    if spec.serial_console:
        serial = _sub(devices, "serial", type="pty")
        if spec.serial_log_path:
            _sub(serial, "log", file=spec.serial_log_path, append="on")
        _sub(serial, "target", port=0)
        _sub(_sub(devices, "console", type="pty"), "target", type="serial", port=0)
    if spec.vnc:
        # Only the portal's console proxy connects (it holds the password); browsers never do.
        graphics = _sub(
            devices, "graphics", type="vnc", port=-1, autoport="yes", listen=spec.vnc_listen, passwd=spec.vnc_password
        )
        _sub(graphics, "listen", type="address", address=spec.vnc_listen)
    if spec.guest_agent:
        # libvirt picks the host-side socket path itself (per domain, migration-safe).
        channel = _sub(devices, "channel", type="unix")
        _sub(channel, "target", type="virtio", name=GUEST_AGENT_CHANNEL)
    if spec.watchdog_action:
        _sub(devices, "watchdog", model="i6300esb", action=spec.watchdog_action)
    balloon = _sub(devices, "memballoon", model="virtio")
    if spec.balloon_stats_period_s:
        _sub(balloon, "stats", period=spec.balloon_stats_period_s)


def _add_disk(devices: etree._Element, disk: DiskSpec) -> None:
    element = _sub(devices, "disk", type=disk.type, device=disk.device)
    _sub(
        element,
        "driver",
        name="qemu",
        type=disk.format,
        cache=disk.cache,
        io=disk.io,
        discard="unmap" if disk.discard_unmap and disk.device != "cdrom" else None,
        error_policy=disk.error_policy if disk.device != "cdrom" else None,
        iothread=disk.iothread,
    )
    if disk.type == "volume":
        _sub(element, "source", pool=disk.pool, volume=disk.volume)
    elif disk.path:
        _sub(element, "source", **{"file" if disk.type == "file" else "dev": disk.path})
    _sub(element, "target", dev=disk.target_dev, bus=disk.bus)
    if disk.boot_order:
        _sub(element, "boot", order=disk.boot_order)
    if disk.readonly or disk.device == "cdrom":
        _sub(element, "readonly")
    if disk.shareable:
        _sub(element, "shareable")
    if disk.serial:
        _sub(element, "serial", disk.serial)


def _add_nic(devices: etree._Element, nic: NicSpec) -> None:
    element = _sub(devices, "interface", type=nic.kind)
    _sub(element, "mac", address=nic.mac.lower())
    if nic.kind == "network":
        _sub(element, "source", network=nic.network)
    else:
        _sub(element, "source", bridge=nic.bridge)
        virtualport = _sub(element, "virtualport", type="openvswitch")
        if nic.interface_id:
            _sub(virtualport, "parameters", interfaceid=nic.interface_id)
    if nic.vlan_tag is not None:
        _sub(_sub(element, "vlan"), "tag", id=nic.vlan_tag)
    _sub(element, "model", type=nic.model)
    if nic.queues or not nic.checksum_offload:
        driver = _sub(element, "driver", name="vhost", queues=nic.queues)
        if not nic.checksum_offload:
            # TCP over OVS's userspace datapath needs checksums computed in the guest.
            _sub(driver, "host", csum="off")
            _sub(driver, "guest", csum="off")


def _add_hostdev(devices: etree._Element, hostdev: HostdevSpec) -> None:
    match = _PCI_ADDRESS.match(hostdev.pci_address)
    if not match:
        raise InvalidConfig(f"invalid PCI address {hostdev.pci_address!r}")
    element = _sub(devices, "hostdev", mode="subsystem", type="pci", managed="yes")
    _sub(
        _sub(element, "source"),
        "address",
        domain=f"0x{match['domain'] or '0000'}",
        bus=f"0x{match['bus']}",
        slot=f"0x{match['slot']}",
        function=f"0x{match['function']}",
    )
