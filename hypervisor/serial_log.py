"""A domain's serial log (``<serial><log file=.../>``) read over the libvirt connection, for a
host whose files the portal cannot open (a remote one).

libvirt has no call that reads a file, but a directory storage pool makes every file in it a
volume, and virStorageVolDownload reads any byte range of a volume. So the log's directory gets
a *transient* dir pool (``nubes-serial-logs-<hash>``; gone when libvirtd restarts, nothing is
written to the host's configuration), or the pool an admin already made over it; a log is then
sized with virStorageVolGetInfo (libvirt re-reads the file each time) and tailed with
downloads from where the reader stopped. Any number of readers, with the log's history; unlike
virDomainOpenConsole, which gives one exclusive reader per device (a second viewer, or a second
web process, takes the console from the first) and nothing written before it was opened.
"""

from __future__ import annotations

import hashlib
import os

import libvirt
from lxml import etree

from .connection import get_connection
from .errors import InvalidConfig, translated
from .volume_stream import download_range

POOL_PREFIX = "nubes-serial-logs-"


def _pool_xml(name: str, directory: str) -> str:
    pool = etree.Element("pool", type="dir")
    etree.SubElement(pool, "name").text = name
    etree.SubElement(etree.SubElement(pool, "target"), "path").text = directory
    return etree.tostring(pool, encoding="unicode")


def _missing(exc: libvirt.libvirtError, code: int) -> bool:
    return exc.get_error_code() == code


def _pool(conn: libvirt.virConnect, directory: str) -> libvirt.virStoragePool:
    try:
        return conn.storagePoolLookupByTargetPath(directory)
    except libvirt.libvirtError as exc:
        if not _missing(exc, libvirt.VIR_ERR_NO_STORAGE_POOL):
            raise
    name = POOL_PREFIX + hashlib.sha1(directory.encode()).hexdigest()[:8]
    try:
        return conn.storagePoolCreateXML(_pool_xml(name, directory), 0)
    except libvirt.libvirtError:
        return conn.storagePoolLookupByName(name)  # another reader made it first; else this raises


def _log_volume(uri: str, path: str) -> libvirt.virStorageVol | None:
    if not os.path.isabs(path) or ".." in path.split("/"):
        raise InvalidConfig(f"not an absolute file path: {path!r}", uri=uri)
    directory, name = os.path.split(path)
    conn = get_connection(uri)
    with translated(uri):
        pool = _pool(conn, directory)
        for look in range(2):
            try:
                return pool.storageVolLookupByName(name)
            except libvirt.libvirtError as exc:
                if not _missing(exc, libvirt.VIR_ERR_NO_STORAGE_VOL):
                    raise
            if look == 0:
                pool.refresh(0)  # a log made since the pool was last read
    return None


def serial_log_size(uri: str, path: str) -> int | None:
    """The log's size in bytes now, or None while there is no such file on the host."""
    vol = _log_volume(uri, path)
    if vol is None:
        return None
    with translated(uri):
        return vol.info()[1]  # a text file is a raw volume: its capacity is its size


def serial_log_read(uri: str, path: str, offset: int, length: int) -> bytes:
    """``length`` bytes of the log from ``offset`` (fewer if the file is shorter)."""
    if offset < 0 or length <= 0:
        raise InvalidConfig(f"bad range {offset}+{length}", uri=uri)
    vol = _log_volume(uri, path)
    if vol is None:
        return b""
    return b"".join(download_range(uri, vol, offset, length))


def serial_log_remove(uri: str, path: str) -> bool:
    """Delete the log on the host (once its domain is gone: QEMU holds it open while it runs);
    False when there was none."""
    vol = _log_volume(uri, path)
    if vol is None:
        return False
    with translated(uri):
        vol.delete(0)
    return True
