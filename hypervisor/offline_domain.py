"""Offline chain changes on a host Nubes runs no commands on, through libvirt alone.

libvirt merges and copies a chain only as block jobs of a running QEMU. For files no domain
uses (a detached volume, the disks of a stopped instance), a *helper domain* is started:
transient, paused before its first instruction, with one disk (the chain to work on), no
network, 32 MiB, destroyed when done and by libvirt itself if the connection drops
(``VIR_DOMAIN_START_AUTODESTROY``). Its vCPU never runs; QEMU's block layer does the work:
- commit: blockCommit, non-active when a layer is built on the committed one (QEMU then
  repoints that overlay's header at the base), else an active commit cancelled once in sync
  (the base holds the data, the top stays as it was, like ``qemu-img commit -d``);
- pull: blockRebase onto the new backing file (blockPull when none), QEMU rewrites the header;
- copy a layer: a shallow blockCopy into a pre-made qcow2 whose header already names the copy
  of the layer's backing file, cancelled once in sync (the copy stays consistent).
QEMU's image locks refuse files a running guest holds, so nothing here can race a guest.
"""

from __future__ import annotations

import contextlib
import time
import uuid as uuidlib
from collections.abc import Iterator

import libvirt
from lxml import etree

from . import blockjobs
from .connection import get_connection, lookup_domain
from .errors import InvalidConfig, OperationFailed, translated

DEV = "vda"
NAME_PREFIX = "nubes-offline-"  # the lab's leftover check finds any that outlive their job
MEMORY_MIB = 32
POLL_S = 0.2
CHAIN_LOOKS = 10
TIMEOUT_S = 6 * 3600  # as long as qemu-img may take on a local host


def _domain_type(conn: libvirt.virConnect) -> tuple[str, str]:
    """(kvm or qemu, arch): KVM where the host offers it (some QEMU builds have no TCG)."""
    caps = etree.fromstring(conn.getCapabilities().encode())
    arch = caps.findtext("host/cpu/arch") or "x86_64"
    for guest in caps.findall("guest"):
        if guest.findtext("os_type") == "hvm" and guest.find("arch").get("name") == arch:
            types = {dom.get("type") for dom in guest.findall("arch/domain")}
            return ("kvm" if "kvm" in types else "qemu"), arch
    raise OperationFailed(f"the host runs no {arch} hvm guests")


def _helper_xml(kind: str, arch: str, name: str, uuid: str, path: str) -> str:
    dom = etree.Element("domain", type=kind)
    etree.SubElement(dom, "name").text = name
    etree.SubElement(dom, "uuid").text = uuid
    etree.SubElement(dom, "memory", unit="MiB").text = str(MEMORY_MIB)
    etree.SubElement(dom, "vcpu").text = "1"
    etree.SubElement(etree.SubElement(dom, "os"), "type", arch=arch).text = "hvm"
    devices = etree.SubElement(dom, "devices")
    disk = etree.SubElement(devices, "disk", type="file", device="disk")
    etree.SubElement(disk, "driver", name="qemu", type="qcow2")
    etree.SubElement(disk, "source", file=path)
    etree.SubElement(disk, "target", dev=DEV, bus="virtio")
    etree.SubElement(devices, "memballoon", model="none")
    return etree.tostring(dom, encoding="unicode")


@contextlib.contextmanager
def helper_domain(uri: str, path: str) -> Iterator[str]:
    """A paused transient domain whose one disk is ``path`` (with the backing chain its header
    names); yields its UUID and destroys it after."""
    conn = get_connection(uri)
    uuid = str(uuidlib.uuid4())
    with translated(uri):
        kind, arch = _domain_type(conn)
        flags = libvirt.VIR_DOMAIN_START_PAUSED | libvirt.VIR_DOMAIN_START_AUTODESTROY
        dom = conn.createXML(_helper_xml(kind, arch, NAME_PREFIX + uuid[:8], uuid, path), flags)
    try:
        yield uuid
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            dom.destroy()


def chain(uri: str, uuid: str) -> tuple[str, ...]:
    """[the disk's file, its backing file, ...] as libvirt opened them."""
    with translated(uri):
        xml = lookup_domain(uri, uuid).XMLDesc(0)
    node = next(iter(etree.fromstring(xml).xpath(f"devices/disk[target/@dev='{DEV}']")), None)
    files = []
    while node is not None and node.find("source") is not None:
        files.append(node.find("source").get("file"))
        node = node.find("backingStore")
    return tuple(files)


def _wait(uri: str, uuid: str, *, until_ready: bool, what: str) -> None:
    """Until the job ends (or, ``until_ready``, is in sync: then cancel it, keeping the copy)."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        job = blockjobs.block_job(uri, uuid, DEV)
        if job is None:
            if until_ready:
                raise OperationFailed(f"QEMU ended the {what} before it was in sync", uri=uri)
            return
        if until_ready and job.ready:
            blockjobs.block_job_abort(uri, uuid, DEV)  # in sync: cancel completes without a pivot
            return
        time.sleep(POLL_S)
    with contextlib.suppress(OperationFailed):
        blockjobs.block_job_abort(uri, uuid, DEV)
    raise OperationFailed(f"the {what} did not end within {TIMEOUT_S} s", uri=uri)


def _check_chain(uri: str, uuid: str, done, what: str) -> None:
    """A job gone from QEMU finished or failed: only the chain libvirt records tells which (it
    records a finished one right after, hence the few looks)."""
    for _look in range(CHAIN_LOOKS):
        if done(chain(uri, uuid)):
            return
        time.sleep(POLL_S)
    raise OperationFailed(f"QEMU ended the {what} without finishing it", uri=uri)


def commit(uri: str, top_path: str, overlay_path: str | None = None) -> str:
    """Write ``top_path``'s data into its backing file, whose path is returned; the file built
    on it (``overlay_path``), if any, is then backed by that file instead."""
    with helper_domain(uri, overlay_path or top_path) as uuid:
        files = chain(uri, uuid)
        if top_path not in files[: 2 if overlay_path else 1]:
            raise InvalidConfig(f"{top_path} is not {'backing ' + overlay_path if overlay_path else 'a top file'}")
        below = files[files.index(top_path) + 1 :]
        if not below:
            raise InvalidConfig(f"{top_path} has no backing file to commit into")
        base = below[0]
        what = f"commit of {top_path} into {base}"
        if overlay_path:
            blockjobs.block_commit(uri, uuid, DEV, top_path=top_path, base_path=base)
            _wait(uri, uuid, until_ready=False, what=what)
            _check_chain(uri, uuid, lambda files: top_path not in files, what)
        else:
            blockjobs.block_commit(uri, uuid, DEV, base_path=base, active=True)
            _wait(uri, uuid, until_ready=True, what=what)
    return base


def pull(uri: str, path: str, backing_path: str | None) -> None:
    """Copy into ``path`` every layer above ``backing_path`` (all of them when None) and make it
    backed by ``backing_path``: the guest sees the same data."""
    with helper_domain(uri, path) as uuid:
        files = chain(uri, uuid)
        if backing_path and backing_path not in files[1:]:
            raise InvalidConfig(f"{backing_path} is not below {path}")
        blockjobs.block_pull(uri, uuid, DEV, base_path=backing_path)
        what = f"pull into {path}"
        _wait(uri, uuid, until_ready=False, what=what)
        kept = files[files.index(backing_path) :] if backing_path else ()
        _check_chain(uri, uuid, lambda now: now == (path, *kept), what)


def copy_layer(uri: str, source_path: str, dest_path: str, backing_path: str | None) -> None:
    """Copy ``source_path``'s own data into ``dest_path``, a qcow2 already backed by
    ``backing_path`` (the copy of the source's backing file, or nothing for a base layer)."""
    with helper_domain(uri, source_path) as uuid:
        if (len(chain(uri, uuid)) > 1) != bool(backing_path):
            raise InvalidConfig(f"the copy of {source_path} is backed by the copy of its backing file, or by nothing")
        blockjobs.block_copy(uri, uuid, DEV, dest_path, shallow=True)
        _wait(uri, uuid, until_ready=True, what=f"copy of {source_path}")
