"""Live memory hotplug: a DIMM added to a running domain that has ``<maxMemory slots=...>``.

Real hosts use attachDeviceFlags with a ``<memory model='dimm'>`` device (QEMU's pc-dimm; the
guest kernel must online the memory itself). libvirt's test driver has no attachDevice: on
test:// hosts the DIMM and the larger ``memory`` / ``currentMemory`` go into the persistent
definition and the result says ``simulated=True``. Real hosts never run that code.
"""

from __future__ import annotations

from dataclasses import dataclass

import libvirt
from lxml import etree

from .connection import is_simulated, lookup_domain
from .domain_read import parse_xml, scaled_int
from .errors import InvalidConfig, translated

DIMM_ALIGN_KIB = 2048  # QEMU aligns pc-dimm sizes to 2 MiB on x86


@dataclass(frozen=True)
class MemoryChange:
    simulated: bool
    live: bool  # the running guest got the DIMM, not only the next boot
    memory_kib: int  # the domain's total memory afterwards (persistent definition)


def build_memory_xml(size_kib: int, node: int) -> str:
    """The ``<memory model='dimm'>`` device for attachDeviceFlags."""
    if size_kib <= 0 or size_kib % DIMM_ALIGN_KIB:
        raise InvalidConfig(f"a DIMM is a positive multiple of {DIMM_ALIGN_KIB} KiB, not {size_kib}")
    if node < 0:
        raise InvalidConfig("node must be a guest NUMA cell id (0 or more)")
    memory = etree.Element("memory", model="dimm")
    target = etree.SubElement(memory, "target")
    size = etree.SubElement(target, "size", unit="KiB")
    size.text = str(size_kib)
    etree.SubElement(target, "node").text = str(node)
    return etree.tostring(memory, pretty_print=True, encoding="unicode")


def _check_room(root: etree._Element, size_kib: int, node: int) -> int:
    """The new total; InvalidConfig when the domain has no hotplug ceiling, slot or cell."""
    ceiling = root.find("maxMemory")
    if ceiling is None:
        raise InvalidConfig("the domain has no <maxMemory> (no memory hotplug slots)")
    total = (scaled_int(root.find("memory"), "KiB") or 0) + size_kib
    if total > (scaled_int(ceiling, "KiB") or 0):
        raise InvalidConfig(f"{total} KiB would exceed the domain's maxMemory of {scaled_int(ceiling, 'KiB')} KiB")
    used = len(root.findall("devices/memory"))
    if used >= int(ceiling.get("slots", "0")):
        raise InvalidConfig(f"all {ceiling.get('slots')} memory slots are in use")
    cells = {cell.get("id") for cell in root.iterfind("cpu/numa/cell")}
    if str(node) not in cells:
        raise InvalidConfig(f"the guest has no NUMA cell {node} to plug memory into")
    return total


def _simulate(dom: libvirt.virDomain, xml: str, size_kib: int, node: int) -> int:
    root = parse_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE))
    total = _check_room(root, size_kib, node)
    for tag in ("memory", "currentMemory"):
        element = root.find(tag)
        element.text = str((scaled_int(element, "KiB") or 0) + size_kib)
        element.set("unit", "KiB")
    root.find("devices").append(parse_xml(xml))
    dom.connect().defineXML(etree.tostring(root, encoding="unicode"))
    return total


def domain_attach_memory(uri: str, uuid: str, size_kib: int, node: int = 0) -> MemoryChange:
    """Plug a DIMM of ``size_kib`` into guest NUMA cell ``node``: live and in the definition
    of a running domain, in the definition only of a stopped one."""
    xml = build_memory_xml(size_kib, node)
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        if is_simulated(uri):
            return MemoryChange(simulated=True, live=False, memory_kib=_simulate(dom, xml, size_kib, node))
        live = bool(dom.isActive())
        root = parse_xml(dom.XMLDesc(0 if live else libvirt.VIR_DOMAIN_XML_INACTIVE))
        total = _check_room(root, size_kib, node)
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG if dom.isPersistent() else 0
        if live:
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        dom.attachDeviceFlags(xml, flags)
        return MemoryChange(simulated=False, live=live, memory_kib=total)
