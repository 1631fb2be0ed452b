"""Reading a domain's XML back: what it runs (DomainXmlInfo), libvirt's units, Nubes' metadata,
and the two rewrites of a defined domain's XML (for the test driver, the VNC listen address)."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from .domain_xml import NUBES_NS, VcpuPin
from .errors import InvalidConfig


@dataclass(frozen=True)
class DiskInfo:
    target_dev: str
    device: str
    bus: str | None
    source: str | None  # file / dev path, or "pool/volume"
    format: str | None


@dataclass(frozen=True)
class NicInfo:
    mac: str
    kind: str
    source: str | None  # network or bridge name
    target_dev: str | None
    interface_id: str | None
    vlan_tag: int | None


@dataclass(frozen=True)
class DomainXmlInfo:
    name: str
    uuid: str | None
    domain_type: str
    title: str | None
    description: str | None
    instance_id: str | None
    project_id: str | None
    vcpus: int
    max_vcpus: int
    memory_kib: int
    current_memory_kib: int
    cpu_shares: int | None
    cpu_period: int | None
    cpu_quota: int | None
    vcpu_pins: tuple[VcpuPin, ...]
    disks: tuple[DiskInfo, ...]
    nics: tuple[NicInfo, ...]
    serial_log_path: str | None
    vnc_port: int | None


_UNITS = {
    "b": 1,
    "bytes": 1,
    "k": 1024,
    "kib": 1024,
    "kb": 1000,
    "m": 1024**2,
    "mib": 1024**2,
    "mb": 1000**2,
    "g": 1024**3,
    "gib": 1024**3,
    "gb": 1000**3,
    "t": 1024**4,
    "tib": 1024**4,
    "tb": 1000**4,
}


def scaled_int(element: etree._Element | None, default_unit: str = "bytes") -> int | None:
    """An element's integer value in bytes (or KiB when default_unit is 'KiB'), unit-aware."""
    if element is None or element.text is None:
        return None
    unit = (element.get("unit") or default_unit).lower()
    if unit not in _UNITS:
        raise InvalidConfig(f"unknown unit {unit!r}")
    value = int(element.text.strip()) * _UNITS[unit]
    return value // 1024 if default_unit.lower() == "kib" else value


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text not in (None, "") else None


def parse_xml(xml: str) -> etree._Element:
    """Parse XML from libvirt or a caller, mapping syntax errors to InvalidConfig."""
    try:
        return etree.fromstring(xml.encode(), etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise InvalidConfig(f"malformed XML: {exc}") from exc


def read_metadata(root: etree._Element) -> tuple[str | None, str | None]:
    """(instance id, project id) from our metadata element, or (None, None)."""
    instance = root.find(f"metadata/{{{NUBES_NS}}}instance")
    if instance is None:
        return None, None
    return instance.findtext(f"{{{NUBES_NS}}}id"), instance.findtext(f"{{{NUBES_NS}}}project")


def parse_domain_xml(xml: str) -> DomainXmlInfo:
    """The values Nubes reads back from a domain's XML (e.g. after libvirt assigned them)."""
    root = parse_xml(xml)
    instance_id, project_id = read_metadata(root)
    vcpu = root.find("vcpu")
    max_vcpus = int(vcpu.text) if vcpu is not None and vcpu.text else 1
    graphics = root.find("devices/graphics[@type='vnc']")
    return DomainXmlInfo(
        name=root.findtext("name") or "",
        uuid=root.findtext("uuid"),
        domain_type=root.get("type", ""),
        title=root.findtext("title"),
        description=root.findtext("description"),
        instance_id=instance_id,
        project_id=project_id,
        vcpus=int(vcpu.get("current", max_vcpus)) if vcpu is not None else 1,
        max_vcpus=max_vcpus,
        memory_kib=scaled_int(root.find("memory"), "KiB") or 0,
        current_memory_kib=scaled_int(root.find("currentMemory"), "KiB") or 0,
        cpu_shares=_int_or_none(root.findtext("cputune/shares")),
        cpu_period=_int_or_none(root.findtext("cputune/period")),
        cpu_quota=_int_or_none(root.findtext("cputune/quota")),
        vcpu_pins=tuple(VcpuPin(int(p.get("vcpu")), p.get("cpuset")) for p in root.iterfind("cputune/vcpupin")),
        disks=tuple(_disk_info(d) for d in root.iterfind("devices/disk")),
        nics=tuple(_nic_info(n) for n in root.iterfind("devices/interface")),
        serial_log_path=root.find("devices/serial/log").get("file")
        if root.find("devices/serial/log") is not None
        else None,
        vnc_port=_int_or_none(graphics.get("port")) if graphics is not None else None,
    )


def _disk_info(disk: etree._Element) -> DiskInfo:
    source = disk.find("source")
    path = None
    if source is not None:
        path = source.get("file") or source.get("dev")
        if source.get("pool"):
            path = f"{source.get('pool')}/{source.get('volume')}"
    target = disk.find("target")
    driver = disk.find("driver")
    return DiskInfo(
        target_dev=target.get("dev", "") if target is not None else "",
        device=disk.get("device", "disk"),
        bus=target.get("bus") if target is not None else None,
        source=path,
        format=driver.get("type") if driver is not None else None,
    )


def _nic_info(nic: etree._Element) -> NicInfo:
    source = nic.find("source")
    params = nic.find("virtualport/parameters")
    tag = nic.find("vlan/tag")
    target = nic.find("target")
    return NicInfo(
        mac=nic.find("mac").get("address", "") if nic.find("mac") is not None else "",
        kind=nic.get("type", ""),
        source=(source.get("network") or source.get("bridge")) if source is not None else None,
        target_dev=target.get("dev") if target is not None else None,
        interface_id=params.get("interfaceid") if params is not None else None,
        vlan_tag=_int_or_none(tag.get("id")) if tag is not None else None,
    )


def adapt_for_test_driver(xml: str) -> str:
    """Rewrite domain XML for libvirt's test driver.

    Only the domain type changes: libvirt 9.0's test driver accepts (and ignores) every other
    element ``build_domain_xml`` emits, hostdevs and hugepages included; a test defines the
    fullest spec there to keep that true.
    """
    root = parse_xml(xml)
    if root.tag != "domain":
        raise InvalidConfig(f"expected a <domain> document, got <{root.tag}>")
    root.set("type", "test")
    return etree.tostring(root, encoding="unicode")


def set_vnc_listen(xml: str, address: str) -> str:
    """The domain XML with its VNC server listening on ``address`` (a migration's destination
    host: the source's address cannot be bound there)."""
    root = etree.fromstring(xml.encode())
    for graphics in root.iterfind("devices/graphics[@type='vnc']"):
        graphics.set("listen", address)
        for listen in graphics.iterfind("listen"):
            if listen.get("type") == "address":
                listen.set("address", address)
    return etree.tostring(root, encoding="unicode")
