"""libvirt networks: the embedded default's network backend (isolated bridges with dnsmasq
DHCP). Networks are addressed by name; XML is built with lxml."""

from __future__ import annotations

from dataclasses import dataclass

import libvirt
from lxml import etree

from .connection import get_connection
from .errors import InvalidConfig, translated

BRIDGE_NAME_MAX = 15  # Linux interface names


@dataclass(frozen=True)
class DhcpHost:
    mac: str
    ip: str


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    uuid: str
    bridge: str
    mtu: int | None = None
    address: str | None = None  # the host side's IPv4 address (the subnet gateway)
    prefix: int | None = None
    dhcp_range: tuple[str, str] | None = None
    hosts: tuple[DhcpHost, ...] = ()


def build_network_xml(spec: NetworkSpec) -> str:
    """An isolated network (no <forward>): guests reach each other, not the outside."""
    if not spec.bridge or len(spec.bridge) > BRIDGE_NAME_MAX:
        raise InvalidConfig(f"bridge name {spec.bridge!r} must be 1-{BRIDGE_NAME_MAX} characters")
    root = etree.Element("network")
    etree.SubElement(root, "name").text = spec.name
    etree.SubElement(root, "uuid").text = spec.uuid
    etree.SubElement(root, "bridge", name=spec.bridge, stp="on", delay="0")
    if spec.mtu:
        etree.SubElement(root, "mtu", size=str(spec.mtu))
    if spec.address:
        ip = etree.SubElement(root, "ip", address=spec.address, prefix=str(spec.prefix))
        if spec.dhcp_range:
            dhcp = etree.SubElement(ip, "dhcp")
            etree.SubElement(dhcp, "range", start=spec.dhcp_range[0], end=spec.dhcp_range[1])
            for host in spec.hosts:
                etree.SubElement(dhcp, "host", mac=host.mac, ip=host.ip)
    return etree.tostring(root, pretty_print=True, encoding="unicode")


def _lookup(conn: libvirt.virConnect, name: str) -> libvirt.virNetwork | None:
    try:
        return conn.networkLookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_NETWORK:
            return None
        raise


def network_ensure(uri: str, spec: NetworkSpec) -> bool:
    """Define and start the network, replacing a differing definition; True if anything changed."""
    xml = build_network_xml(spec)
    conn = get_connection(uri)
    with translated(uri):
        current = _lookup(conn, spec.name)
        if current is not None:
            if _same(current, spec) and current.isActive():
                return False
            _remove(current)
        network = conn.networkDefineXML(xml)
        network.create()
        network.setAutostart(True)
    return True


def _same(network: libvirt.virNetwork, spec: NetworkSpec) -> bool:
    have = etree.fromstring(network.XMLDesc(0))  # the test driver refuses the INACTIVE flag
    want = etree.fromstring(build_network_xml(spec))
    hosts = {(h.get("mac"), h.get("ip")) for h in have.iter("host")}
    ranges = [(r.get("start"), r.get("end")) for r in have.iter("range")]
    ip = have.find("ip")
    return (
        hosts == {(h.get("mac"), h.get("ip")) for h in want.iter("host")}
        and ranges == [(r.get("start"), r.get("end")) for r in want.iter("range")]
        and (ip.get("address") if ip is not None else None) == spec.address
    )


def _remove(network: libvirt.virNetwork) -> None:
    if network.isActive():
        network.destroy()
    network.undefine()


def network_remove(uri: str, name: str) -> bool:
    """Stop and undefine; False when there was no such network."""
    conn = get_connection(uri)
    with translated(uri):
        network = _lookup(conn, name)
        if network is None:
            return False
        _remove(network)
    return True


def network_names(uri: str) -> tuple[str, ...]:
    conn = get_connection(uri)
    with translated(uri):
        return tuple(sorted(n.name() for n in conn.listAllNetworks()))
