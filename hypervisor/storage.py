"""Storage pools and volumes. Pools and volumes are addressed by name."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

import libvirt
from lxml import etree

from .connection import get_connection, is_simulated
from .domain_read import parse_xml, scaled_int
from .errors import InvalidConfig, translated
from .types import PoolInfo, VolumeInfo

POOL_TYPES = ("dir", "netfs", "logical", "iscsi", "iscsi-direct", "rbd", "disk")
# Pools whose volumes are the LUNs of a target: libvirt lists them but cannot create any.
LUN_POOL_TYPES = ("iscsi", "iscsi-direct")
VOLUME_FORMATS = ("qcow2", "raw")


@dataclass(frozen=True)
class PoolSpec:
    """What pool_define needs; which fields matter depends on ``type``."""

    name: str
    type: str = "dir"
    target_path: str | None = None  # dir, netfs, logical (/dev/VG), iscsi, disk
    source_host: str | None = None  # netfs, iscsi; rbd monitors go in source_hosts
    source_hosts: tuple[str, ...] = ()
    source_dir: str | None = None  # netfs export
    source_name: str | None = None  # logical: VG name; rbd: ceph pool
    source_devices: tuple[str, ...] = ()  # logical PVs, iscsi IQN, disk device
    source_format: str | None = None  # netfs: nfs or glusterfs; disk: gpt; logical: lvm2
    source_port: int | None = None  # iscsi, iscsi-direct: the portal's port (3260 when None)
    initiator_iqn: str | None = None  # iscsi-direct: QEMU's libiscsi logs in with this name
    auth_username: str | None = None  # rbd (cephx) with a libvirt secret
    auth_secret_uuid: str | None = None


def check_name(name: str, what: str = "name") -> str:
    """Reject names that could escape a pool directory; returns the name."""
    if not name or "/" in name or "\\" in name or ".." in name or "\x00" in name:
        raise InvalidConfig(f"invalid {what} {name!r}: no path separators or '..'")
    return name


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def build_pool_xml(spec: PoolSpec) -> str:
    """Storage pool XML for ``spec`` (lxml-built); raises InvalidConfig when incomplete."""
    check_name(spec.name, "pool name")
    if spec.type not in POOL_TYPES:
        raise InvalidConfig(f"pool type must be one of {', '.join(POOL_TYPES)}")
    needs = {
        "dir": spec.target_path,
        "netfs": spec.source_host and spec.source_dir,
        "logical": spec.source_name,
        "iscsi": spec.source_host and spec.source_devices,
        # No kernel initiator: libvirt and QEMU log in themselves, with a name of the host's own.
        "iscsi-direct": spec.source_host and spec.source_devices and spec.initiator_iqn,
        "rbd": spec.source_name and spec.source_hosts,
        "disk": spec.source_devices,
    }
    if not needs[spec.type]:
        raise InvalidConfig(f"pool type {spec.type!r} is missing its source or target")
    root = etree.Element("pool", type=spec.type)
    _sub(root, "name", spec.name)
    if spec.type != "dir":
        source = _sub(root, "source")
        for host in (spec.source_host,) if spec.source_host else spec.source_hosts:
            port = {"port": str(spec.source_port)} if spec.source_port else {}
            _sub(source, "host", name=host, **port)
        if spec.source_dir:
            _sub(source, "dir", path=spec.source_dir)
        for device in spec.source_devices:
            _sub(source, "device", path=device)
        if spec.source_name:
            _sub(source, "name", spec.source_name)
        if spec.source_format:
            _sub(source, "format", type=spec.source_format)
        if spec.type == "iscsi-direct":
            _sub(_sub(source, "initiator"), "iqn", name=spec.initiator_iqn)
        if spec.auth_username and spec.auth_secret_uuid:
            auth = _sub(source, "auth", type="ceph", username=spec.auth_username)
            _sub(auth, "secret", uuid=spec.auth_secret_uuid)
    target_path = spec.target_path or (f"/dev/{spec.source_name}" if spec.type == "logical" else None)
    if target_path and spec.type not in ("rbd", "iscsi-direct"):
        _sub(_sub(root, "target"), "path", target_path)
    return etree.tostring(root, pretty_print=True, encoding="unicode")


def _pool(uri: str, name: str) -> libvirt.virStoragePool:
    conn = get_connection(uri)
    with translated(uri):
        return conn.storagePoolLookupByName(check_name(name, "pool name"))


def _pool_info(pool: libvirt.virStoragePool) -> PoolInfo:
    _state, capacity, allocation, available = pool.info()
    root = parse_xml(pool.XMLDesc(0))
    return PoolInfo(
        name=pool.name(),
        uuid=pool.UUIDString(),
        type=root.get("type", ""),
        active=bool(pool.isActive()),
        persistent=bool(pool.isPersistent()),
        autostart=bool(pool.autostart()),
        capacity_bytes=capacity,
        allocation_bytes=allocation,
        available_bytes=available,
        path=root.findtext("target/path"),
    )


def pool_define(uri: str, spec: PoolSpec) -> PoolInfo:
    """Define a persistent pool (inactive; see pool_start)."""
    xml = build_pool_xml(spec)
    conn = get_connection(uri)
    with translated(uri):
        return _pool_info(conn.storagePoolDefineXML(xml, 0))


def pool_define_dir(uri: str, name: str, path: str) -> PoolInfo:
    return pool_define(uri, PoolSpec(name=name, type="dir", target_path=path))


def pool_start(uri: str, name: str, *, build: bool = False, autostart: bool = True) -> PoolInfo:
    """Activate a pool, optionally building it first (mkdir, mkfs, vgcreate ...)."""
    pool = _pool(uri, name)
    with translated(uri):
        if build:
            pool.build(libvirt.VIR_STORAGE_POOL_BUILD_NEW)
        if not pool.isActive():
            pool.create(0)
        pool.setAutostart(int(autostart))
        return _pool_info(pool)


def pool_refresh(uri: str, name: str) -> PoolInfo:
    pool = _pool(uri, name)
    with translated(uri):
        pool.refresh(0)
        return _pool_info(pool)


def pool_stop(uri: str, name: str) -> None:
    pool = _pool(uri, name)
    with translated(uri):
        if pool.isActive():
            pool.destroy()


def pool_delete(uri: str, name: str, *, delete_data: bool = False) -> None:
    """Stop and undefine a pool; ``delete_data`` also removes its storage (rmdir, vgremove)."""
    pool = _pool(uri, name)
    with translated(uri):
        if pool.isActive():
            pool.destroy()
        if delete_data:
            pool.delete(libvirt.VIR_STORAGE_POOL_DELETE_NORMAL)
        pool.undefine()


def pool_info(uri: str, name: str) -> PoolInfo:
    pool = _pool(uri, name)
    with translated(uri):
        return _pool_info(pool)


PROBE_SUFFIX = "-probe"


def pool_probe(uri: str, name: str) -> None:
    """Ask a LUN pool's array now whether it serves the pool: start a transient copy of the
    pool's definition (``<name>-probe-<random>``, so that two probes of one pool may run at
    once; libvirt logs in to the target and reads each LUN's
    capacity), then stop it. Raises when the array refuses. For LUN pools only (iscsi-direct):
    their volume info is libvirtd's memory of the last refresh, a refresh that fails stops the
    pool, and they cannot download a volume; a copy of a file-system pool would mount again."""
    conn = get_connection(uri)
    with translated(uri):
        root = parse_xml(_pool(uri, name).XMLDesc(0))
        root.find("name").text = f"{name}{PROBE_SUFFIX}-{secrets.token_hex(3)}"
        for uuid in root.findall("uuid"):
            root.remove(uuid)
        probe = conn.storagePoolCreateXML(etree.tostring(root, encoding="unicode"), 0)
        probe.destroy()


def list_pools(uri: str) -> tuple[PoolInfo, ...]:
    conn = get_connection(uri)
    with translated(uri):
        return tuple(sorted((_pool_info(p) for p in conn.listAllStoragePools(0)), key=lambda p: p.name))


def _volume_info(pool_name: str, vol: libvirt.virStorageVol) -> VolumeInfo:
    root = parse_xml(vol.XMLDesc(0))
    backing = root.find("backingStore")
    return VolumeInfo(
        name=vol.name(),
        pool=pool_name,
        key=vol.key(),
        path=vol.path(),
        capacity_bytes=scaled_int(root.find("capacity")) or 0,
        allocation_bytes=scaled_int(root.find("allocation")) or 0,
        format=root.find("target/format").get("type") if root.find("target/format") is not None else None,
        backing_path=backing.findtext("path") if backing is not None else None,
        backing_format=backing.find("format").get("type")
        if backing is not None and backing.find("format") is not None
        else None,
    )


def _volume(uri: str, pool_name: str, name: str) -> libvirt.virStorageVol:
    """The volume, refreshing the pool once when libvirt does not list it: files of a pool
    shared by several hosts are made by any of them, and each libvirtd only sees a file
    another one made after a refresh."""
    pool = _pool(uri, pool_name)
    check_name(name, "volume name")
    with translated(uri):
        try:
            return pool.storageVolLookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL or not pool.isActive():
                raise
        pool.refresh(0)
        return pool.storageVolLookupByName(name)


def build_volume_xml(
    name: str,
    capacity_bytes: int,
    fmt: str = "qcow2",
    allocation_bytes: int | None = None,
    backing_path: str | None = None,
    backing_format: str | None = None,
) -> str:
    check_name(name, "volume name")
    if fmt not in VOLUME_FORMATS:
        raise InvalidConfig(f"volume format must be one of {', '.join(VOLUME_FORMATS)}")
    if capacity_bytes <= 0:
        raise InvalidConfig("capacity_bytes must be positive")
    if allocation_bytes is not None and not 0 <= allocation_bytes <= capacity_bytes:
        raise InvalidConfig("allocation_bytes must be between 0 and capacity_bytes")
    if backing_path and fmt != "qcow2":
        raise InvalidConfig("a backing volume (linked clone) needs format qcow2")
    root = etree.Element("volume")
    _sub(root, "name", name)
    _sub(root, "capacity", str(capacity_bytes), unit="bytes")
    # Allocation 0 = thin; = capacity asks libvirt to preallocate (thick).
    _sub(root, "allocation", str(allocation_bytes or 0), unit="bytes")
    _sub(_sub(root, "target"), "format", type=fmt)
    if backing_path:
        backing = _sub(root, "backingStore")
        _sub(backing, "path", backing_path)
        _sub(backing, "format", type=backing_format or "qcow2")
    return etree.tostring(root, pretty_print=True, encoding="unicode")


def volume_create(
    uri: str,
    pool: str,
    name: str,
    capacity_bytes: int,
    fmt: str = "qcow2",
    *,
    allocation_bytes: int | None = None,
    backing_path: str | None = None,
    backing_format: str | None = None,
) -> VolumeInfo:
    """Create a volume: thin by default, thick with allocation_bytes=capacity_bytes,
    a linked clone with backing_path (qcow2 over the backing volume)."""
    xml = build_volume_xml(name, capacity_bytes, fmt, allocation_bytes, backing_path, backing_format)
    storage_pool = _pool(uri, pool)
    flags = 0
    if allocation_bytes and fmt == "qcow2" and not is_simulated(uri):
        flags |= libvirt.VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA
    with translated(uri):
        return _volume_info(pool, storage_pool.createXML(xml, flags))


def volume_clone(uri: str, pool: str, source: str, name: str, *, fmt: str | None = None) -> VolumeInfo:
    """A full, independent copy of ``source`` in the same pool."""
    original = _volume(uri, pool, source)
    info = _volume_info(pool, original)
    xml = build_volume_xml(name, info.capacity_bytes, fmt or info.format or "qcow2")
    storage_pool = _pool(uri, pool)
    with translated(uri):
        return _volume_info(pool, storage_pool.createXMLFrom(xml, original, 0))


def volume_delete(uri: str, pool: str, name: str, *, wipe: bool = False) -> None:
    """Delete a volume; ``wipe`` first overwrites its data (slow on real hosts).

    Simulated volumes hold no data and the test driver cannot wipe, so wipe is skipped there.
    """
    vol = _volume(uri, pool, name)
    with translated(uri):
        if wipe and not is_simulated(uri):
            vol.wipe(0)
        vol.delete(0)


def volume_info(uri: str, pool: str, name: str) -> VolumeInfo:
    vol = _volume(uri, pool, name)
    with translated(uri):
        return _volume_info(pool, vol)


def list_volumes(uri: str, pool: str) -> tuple[VolumeInfo, ...]:
    storage_pool = _pool(uri, pool)
    with translated(uri):
        return tuple(sorted((_volume_info(pool, v) for v in storage_pool.listAllVolumes(0)), key=lambda v: v.name))


def volume_probe(uri: str, path: str) -> None:
    """Ask the host to read the volume at ``path`` now (libvirt re-reads a volume's file or device
    for its info), so storage that stopped answering raises. A pool refresh would check more but,
    failing, stops the pool under the guests that use it."""
    conn = get_connection(uri)
    with translated(uri):
        conn.storageVolLookupByPath(path).info()


def volume_delete_path(uri: str, path: str) -> None:
    """Delete the volume at ``path`` in whichever pool holds it; VolumeNotFound when none does.
    A pool shared by several hosts lists a file another host made only after a refresh, so the
    active pools whose directory holds the path are refreshed once before giving up."""
    conn = get_connection(uri)
    with translated(uri):
        try:
            vol = conn.storageVolLookupByPath(path)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
                raise
            for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
                target = parse_xml(pool.XMLDesc(0)).findtext("target/path")
                if target and os.path.dirname(path) == target.rstrip("/"):
                    pool.refresh(0)
            vol = conn.storageVolLookupByPath(path)
        vol.delete(0)
