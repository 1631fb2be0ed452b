"""Domain snapshots: internal (disk + memory in qcow2) or external disk-only."""

from __future__ import annotations

import libvirt
from lxml import etree

from .connection import lookup_domain
from .domain_read import parse_xml
from .errors import translated
from .types import SnapshotInfo


def build_snapshot_xml(
    name: str, description: str | None = None, *, with_memory: bool = True, external: bool = False
) -> str:
    root = etree.Element("domainsnapshot")
    etree.SubElement(root, "name").text = name
    if description:
        etree.SubElement(root, "description").text = description
    if external or not with_memory:
        etree.SubElement(root, "memory", snapshot="no")
    return etree.tostring(root, encoding="unicode")


def _info(snapshot: libvirt.virDomainSnapshot) -> SnapshotInfo:
    root = parse_xml(snapshot.getXMLDesc(0))
    try:
        parent: str | None = snapshot.getParent(0).getName()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
            raise
        parent = None  # a root snapshot
    return SnapshotInfo(
        name=snapshot.getName(),
        parent=parent,
        current=bool(snapshot.isCurrent(0)),
        creation_time=int(root.findtext("creationTime") or 0),
        state=root.findtext("state") or "",
        description=root.findtext("description"),
        external=root.find("disks/disk[@snapshot='external']") is not None or root.findtext("state") == "disk-snapshot",
    )


def snapshot_create(
    uri: str, uuid: str, name: str, description: str | None = None, *, disk_only: bool = False, with_memory: bool = True
) -> SnapshotInfo:
    """Take a snapshot: internal with memory by default, or external disk-only."""
    flags = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY if disk_only else 0
    xml = build_snapshot_xml(name, description, with_memory=with_memory, external=disk_only)
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        return _info(dom.snapshotCreateXML(xml, flags))


def snapshot_list(uri: str, uuid: str) -> tuple[SnapshotInfo, ...]:
    """All snapshots of a domain, oldest first."""
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        infos = [_info(s) for s in dom.listAllSnapshots(0)]
    return tuple(sorted(infos, key=lambda s: (s.creation_time, s.name)))


def snapshot_revert(uri: str, uuid: str, name: str, *, running: bool | None = None) -> None:
    """Revert to a snapshot; ``running`` forces the resulting state (None: as captured)."""
    flags = 0
    if running is True:
        flags = libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING
    elif running is False:
        flags = libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        dom.revertToSnapshot(dom.snapshotLookupByName(name, 0), flags)


def snapshot_delete(uri: str, uuid: str, name: str, *, children: bool = False, metadata_only: bool = False) -> None:
    """Delete a snapshot (and its descendants with ``children``); ``metadata_only``
    forgets it in libvirt but leaves the disk data alone."""
    flags = 0
    if children:
        flags |= libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN
    if metadata_only:
        flags |= libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        dom.snapshotLookupByName(name, 0).delete(flags)
