"""A domain's disks and the volume verbs storage needs beyond the basics: attach / detach,
resize, trim, external disk snapshots, copies across pools and rebasing an overlay.

Real hosts use libvirt's own calls. libvirt's test driver lacks attachDevice, detachDevice,
vol.resize, blockResize, fsTrim and disk-only snapshots; on test:// hosts these are simulated
(attach / detach / a new disk source rewrite the persistent definition; a volume whose size or
backing file changes is recreated, which is faithful because simulated volumes hold no data)
and every result says ``simulated=True``. Real hosts never run that code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import libvirt
from lxml import etree

from .connection import is_simulated, lookup_domain
from .domain_read import parse_xml
from .domain_xml import GUEST_AGENT_CHANNEL, DiskSpec, _add_disk, _validate_disk
from .errors import InvalidConfig, NotSupported, OperationFailed, translated
from .guest_agent import GuestAgentUnavailable
from .storage import _pool, _volume, _volume_info, build_volume_xml, check_name, volume_info
from .types import VolumeInfo

# libvirt's errors when the QEMU guest agent is absent or silent.
_AGENT_CODES = frozenset({libvirt.VIR_ERR_AGENT_UNRESPONSIVE, libvirt.VIR_ERR_AGENT_UNSYNCED})


@dataclass(frozen=True)
class DiskChange:
    simulated: bool
    live: bool  # the running guest saw the change (hotplug), not only the next boot


def build_disk_xml(disk: DiskSpec) -> str:
    """The ``<disk>`` element attachDevice takes (same builder as whole domains)."""
    _validate_disk(disk, disk.iothread or 0)
    holder = etree.Element("devices")
    _add_disk(holder, disk)
    return etree.tostring(holder[0], pretty_print=True, encoding="unicode")


def _flags(dom: libvirt.virDomain, live: bool) -> tuple[int, bool]:
    flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG if dom.isPersistent() else 0
    hot = live and bool(dom.isActive())
    if hot:
        flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
    if not flags:
        raise InvalidConfig("the domain is neither running nor persistent")
    return flags, hot


def _redefine(dom: libvirt.virDomain, change: Callable[[etree._Element], None]) -> None:
    root = parse_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE))
    change(root.find("devices"))
    dom.connect().defineXML(etree.tostring(root, encoding="unicode"))


def _disk_element(devices: etree._Element, target_dev: str) -> etree._Element:
    for disk in devices.iterfind("disk"):
        target = disk.find("target")
        if target is not None and target.get("dev") == target_dev:
            return disk
    raise InvalidConfig(f"the domain has no disk {target_dev!r}")


def disk_attach(uri: str, uuid: str, disk: DiskSpec, *, live: bool = True) -> DiskChange:
    """Hotplug a disk into a running domain (and its definition), or cold-plug it."""
    xml = build_disk_xml(disk)
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        if is_simulated(uri):
            _redefine(dom, lambda devices: devices.append(parse_xml(xml)))
            return DiskChange(simulated=True, live=False)
        flags, hot = _flags(dom, live)
        if disk.bus == "scsi":
            _ensure_scsi_controller(dom, flags, hot)
        dom.attachDeviceFlags(xml, flags)
        return DiskChange(simulated=False, live=hot)


# Left to itself libvirt adds an LSI controller for a SCSI disk, which virtio guests (and QEMU's
# LUN pass-through) do not use: plug a virtio-scsi one first, as whole domains get.
VIRTIO_SCSI_CONTROLLER = "<controller type='scsi' index='0' model='virtio-scsi'/>"


def _ensure_scsi_controller(dom: libvirt.virDomain, flags: int, hot: bool) -> None:
    root = parse_xml(dom.XMLDesc(0 if hot else libvirt.VIR_DOMAIN_XML_INACTIVE))
    if root.find("devices/controller[@type='scsi']") is None:
        dom.attachDeviceFlags(VIRTIO_SCSI_CONTROLLER, flags)


def disk_detach(uri: str, uuid: str, target_dev: str, *, live: bool = True) -> DiskChange:
    """Unplug the disk with this target (vdb, sdc ...) live and from the definition."""
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        if is_simulated(uri):
            _redefine(dom, lambda devices: devices.remove(_disk_element(devices, target_dev)))
            return DiskChange(simulated=True, live=False)
        flags, hot = _flags(dom, live)
        root = parse_xml(dom.XMLDesc(0 if hot else libvirt.VIR_DOMAIN_XML_INACTIVE))
        element = _disk_element(root.find("devices"), target_dev)
        dom.detachDeviceFlags(etree.tostring(element, encoding="unicode"), flags)
        return DiskChange(simulated=False, live=hot)


def disk_set_source(uri: str, uuid: str, target_dev: str, path: str) -> bool:
    """Point a stopped domain's disk at another file (after a revert or an offline move).
    Returns True on simulated hosts."""
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        if dom.isActive() and not is_simulated(uri):
            raise OperationFailed("a running domain's disk source changes only through a block job", uri=uri)

        def change(devices: etree._Element) -> None:
            source = _disk_element(devices, target_dev).find("source")
            if source is None or source.get("file") is None:
                raise InvalidConfig(f"disk {target_dev!r} is not a file disk")
            source.set("file", path)

        _redefine(dom, change)
    return is_simulated(uri)


def disk_resize(uri: str, uuid: str, target_dev: str, capacity_bytes: int) -> bool:
    """Grow an attached disk online (blockResize); returns True when simulated."""
    if capacity_bytes <= 0:
        raise InvalidConfig("capacity_bytes must be positive")
    if is_simulated(uri):
        return True
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        dom.blockResize(target_dev, capacity_bytes, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)
    return False


def _recreate(uri: str, pool: str, name: str, *, capacity_bytes: int, backing_path: str | None) -> VolumeInfo:
    """Test hosts only: replace a data-less volume by one with new capacity or backing."""
    old = volume_info(uri, pool, name)
    _volume(uri, pool, name).delete(0)
    xml = build_volume_xml(
        name, capacity_bytes, old.format or "qcow2", None, backing_path, "qcow2" if backing_path else None
    )
    storage_pool = _pool(uri, pool)
    return _volume_info(pool, storage_pool.createXML(xml, 0))


def volume_resize(uri: str, pool: str, name: str, capacity_bytes: int) -> VolumeInfo:
    """Grow a detached volume (never shrinks: that would cut data off)."""
    info = volume_info(uri, pool, name)
    if capacity_bytes < info.capacity_bytes:
        raise InvalidConfig("a volume only grows")
    with translated(uri):
        if is_simulated(uri):
            return _recreate(uri, pool, name, capacity_bytes=capacity_bytes, backing_path=info.backing_path)
        vol = _volume(uri, pool, name)
        vol.resize(capacity_bytes, 0)
        return _volume_info(pool, vol)


def volume_rebase(uri: str, pool: str, name: str, backing_path: str | None, *, done_by_job: bool = False) -> VolumeInfo:
    """Make ``name``'s backing file ``backing_path`` after its old backing was merged in.

    On a real host only a block job can do that (QEMU rewrites the header); with
    ``done_by_job`` this checks the result after a pool refresh. Test hosts recreate the
    volume with the new backing."""
    info = volume_info(uri, pool, name)
    with translated(uri):
        if is_simulated(uri):
            return _recreate(uri, pool, name, capacity_bytes=info.capacity_bytes, backing_path=backing_path)
        if not done_by_job:
            raise NotSupported(
                "libvirt merges a chain only through a running domain's block job; "
                "attach the volume to a running instance first",
                uri=uri,
            )
        _pool(uri, pool).refresh(0)
        info = volume_info(uri, pool, name)
        if (info.backing_path or None) != (backing_path or None):
            raise OperationFailed(f"{name} is backed by {info.backing_path!r}, expected {backing_path!r}", uri=uri)
        return info


def volume_copy(
    uri: str,
    source_pool: str,
    source: str,
    pool: str,
    name: str,
    *,
    fmt: str = "qcow2",
    capacity_bytes: int | None = None,
    allocation_bytes: int | None = None,
) -> VolumeInfo:
    """A full, independent copy of ``source`` (its whole chain flattened) into ``pool``."""
    check_name(name, "volume name")
    original = _volume(uri, source_pool, source)
    with translated(uri):
        info = _volume_info(source_pool, original)
        capacity = max(capacity_bytes or 0, info.capacity_bytes)
        xml = build_volume_xml(name, capacity, fmt, allocation_bytes)
        target = _pool(uri, pool)
        if is_simulated(uri) and source_pool != pool:
            # The test driver clones only within one pool; its volumes hold no data anyway.
            return _volume_info(pool, target.createXML(xml, 0))
        return _volume_info(pool, target.createXMLFrom(xml, original, 0))


def disk_snapshot_external(uri: str, uuid: str, target_dev: str, overlay_path: str, *, quiesce: bool = False) -> None:
    """Freeze one disk of a running domain behind a new overlay (disk-only, no metadata:
    the portal keeps the chain). Real hosts only; test hosts raise NotSupported."""
    if is_simulated(uri):
        raise NotSupported("the test driver has no disk-only snapshots", uri=uri)
    dom = lookup_domain(uri, uuid)
    root = etree.Element("domainsnapshot")
    etree.SubElement(root, "memory", snapshot="no")
    disks = etree.SubElement(root, "disks")
    with translated(uri):
        for disk in parse_xml(dom.XMLDesc(0)).iterfind("devices/disk"):
            dev = disk.find("target").get("dev")
            element = etree.SubElement(disks, "disk", name=dev, snapshot="external" if dev == target_dev else "no")
            if dev == target_dev:
                etree.SubElement(element, "driver", type="qcow2")
                etree.SubElement(element, "source", file=overlay_path)
        flags = (
            libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
            | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
            | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
        )
        if quiesce:
            flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE
        dom.snapshotCreateXML(etree.tostring(root, encoding="unicode"), flags)


def domain_has_guest_agent(uri: str, uuid: str) -> bool:
    """True when the domain has the QEMU guest agent's virtio-serial channel (quiesce, fstrim
    can then ask the agent; whether it answers is another matter)."""
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        root = parse_xml(dom.XMLDesc(0))
    return any(channel.get("name") == GUEST_AGENT_CHANNEL for channel in root.iterfind("devices/channel/target"))


def build_disks_snapshot_xml(targets: list[str], overlays: dict[str, str]) -> str:
    """A disk-only ``<domainsnapshot>``: each of the domain's disks (``targets``) external onto
    its overlay when it has one, else left out (snapshot='no')."""
    missing = sorted(set(overlays) - set(targets))
    if missing:
        raise InvalidConfig(f"the domain has no disk {', '.join(missing)}")
    root = etree.Element("domainsnapshot")
    etree.SubElement(root, "memory", snapshot="no")
    disks = etree.SubElement(root, "disks")
    for dev in targets:
        element = etree.SubElement(disks, "disk", name=dev, snapshot="external" if dev in overlays else "no")
        if dev in overlays:
            etree.SubElement(element, "driver", type="qcow2")
            etree.SubElement(element, "source", file=overlays[dev])
    return etree.tostring(root, pretty_print=True, encoding="unicode")


def disks_snapshot_external(uri: str, uuid: str, overlays: dict[str, str], *, quiesce: bool = False) -> DiskChange:
    """Freeze several disks at once behind overlays the caller already made (qcow2 files backed
    by each disk's current file): a running domain switches to them in one atomic disk-only
    snapshot (no libvirt metadata: the portal keeps the chain), quiesced through the guest agent
    with ``quiesce``; a stopped domain's definition points at them. Test hosts rewrite the
    definition (simulated=True)."""
    if not overlays:
        raise InvalidConfig("no disks to snapshot")
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        if is_simulated(uri) or not dom.isActive():
            for dev, path in overlays.items():
                disk_set_source(uri, uuid, dev, path)
            return DiskChange(simulated=is_simulated(uri), live=False)
        targets = [disk.find("target").get("dev") for disk in parse_xml(dom.XMLDesc(0)).iterfind("devices/disk")]
        xml = build_disks_snapshot_xml(targets, overlays)
        flags = (
            libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
            | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
            | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
            | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT
        )
        if quiesce:
            flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE
    # Quiesced: GuestAgentUnavailable when no agent answers in the guest.
    with agent_call(uri) if quiesce else translated(uri):
        dom.snapshotCreateXML(xml, flags)
    return DiskChange(simulated=False, live=True)


def domain_fstrim(uri: str, uuid: str) -> None:
    """Run fstrim in the guest through the QEMU guest agent (discard='unmap' passes it on)."""
    if is_simulated(uri):
        raise GuestAgentUnavailable("a simulated host has no guest agent", uri=uri)
    dom = lookup_domain(uri, uuid)
    with agent_call(uri):
        dom.fSTrim(None, 0, 0)


@contextmanager
def agent_call(uri: str) -> Iterator[None]:
    """libvirt errors of a call that needs the guest agent: GuestAgentUnavailable when the agent
    is absent or silent, the usual typed errors otherwise."""
    try:
        yield
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in _AGENT_CODES or "agent" in (exc.get_error_message() or "").lower():
            raise GuestAgentUnavailable(exc.get_error_message(), uri=uri, code=exc.get_error_code()) from exc
        with translated(uri):
            raise


def pool_volume_path(uri: str, pool: str, name: str) -> str:
    """Where a volume called ``name`` would live in ``pool`` (for overlays libvirt creates)."""
    check_name(name, "volume name")
    root = parse_xml(_pool(uri, pool).XMLDesc(0))
    target = root.findtext("target/path")
    if not target:
        raise NotSupported(f"pool {pool!r} has no target path for new files", uri=uri)
    return f"{target.rstrip('/')}/{name}"
