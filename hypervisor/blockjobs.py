"""Block jobs on a running domain's disk: commit, pull, copy (mirror), with progress,
pivot and abort.

libvirt's test driver has no block jobs. On test:// hosts a job is modelled: each look at
it advances it by SIMULATED_STEP of its length; a commit into the active layer and a copy
then wait "ready" for a pivot, which rewrites the persistent disk source. Every result says
``simulated=True`` there. Real hosts never run the model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import libvirt
from lxml import etree

from .connection import is_simulated, lookup_domain
from .disks import disk_set_source
from .errors import InvalidConfig, OperationFailed, translated

COMMIT = "commit"
ACTIVE_COMMIT = "active-commit"
PULL = "pull"
COPY = "copy"
SIMULATED_STEP = 0.25  # of the job's length per look
SIMULATED_LENGTH = 1 << 30  # bytes a modelled job "moves"
_KINDS = {
    libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_PULL: PULL,
    libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_COPY: COPY,
    libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_COMMIT: COMMIT,
    libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT: ACTIVE_COMMIT,
}
# Jobs that end by waiting for a pivot (the mirror is in sync) instead of finishing alone.
_PIVOTING = (ACTIVE_COMMIT, COPY)


@dataclass(frozen=True)
class BlockJob:
    kind: str
    target_dev: str
    cur: int
    end: int
    ready: bool  # a mirror in sync: pivot (or abort) now
    simulated: bool
    new_source: str | None = None  # simulated: the disk's file after a pivot

    @property
    def percent(self) -> int:
        return 100 * self.cur // self.end if self.end else 0


_simulated: dict[tuple[str, str, str], BlockJob] = {}
_guard = threading.Lock()


def _start_simulated(uri: str, uuid: str, dev: str, kind: str, new_source: str | None) -> None:
    lookup_domain(uri, uuid)  # DomainNotFound as on a real host
    with _guard:
        if (uri, uuid, dev) in _simulated:
            raise OperationFailed(f"disk {dev} already has a block job", uri=uri)
        _simulated[(uri, uuid, dev)] = BlockJob(kind, dev, 0, SIMULATED_LENGTH, False, True, new_source)


def block_commit(
    uri: str,
    uuid: str,
    target_dev: str,
    *,
    top_path: str | None = None,
    base_path: str | None = None,
    active: bool = False,
) -> None:
    """Merge ``top`` down into ``base``. ``active``: top is the running layer; the job then
    waits ready for a pivot (block_job_abort(pivot=True)) that makes ``base`` active."""
    if is_simulated(uri):
        _start_simulated(uri, uuid, target_dev, ACTIVE_COMMIT if active else COMMIT, base_path if active else None)
        return
    flags = libvirt.VIR_DOMAIN_BLOCK_COMMIT_ACTIVE if active else 0
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        dom.blockCommit(target_dev, base_path, None if active else top_path, 0, flags)


def block_pull(uri: str, uuid: str, target_dev: str, *, base_path: str | None = None) -> None:
    """Copy everything above ``base_path`` (all backing data when None) into the active layer."""
    if is_simulated(uri):
        _start_simulated(uri, uuid, target_dev, PULL, None)
        return
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        if base_path:
            dom.blockRebase(target_dev, base_path, 0, 0)
        else:
            dom.blockPull(target_dev, 0, 0)


def block_copy(
    uri: str,
    uuid: str,
    target_dev: str,
    dest_path: str,
    *,
    fmt: str = "qcow2",
    bandwidth_mib_s: int = 0,
    shallow: bool = False,
) -> None:
    """Mirror the disk (its whole chain flattened) into ``dest_path``, an empty volume of the
    disk's size already made in the target pool (libvirt refuses to overwrite a file unless
    told to reuse it); pivot when ready. ``shallow``: mirror only the active layer, into a
    qcow2 whose backing file (named in its header) already holds a copy of the disk's backing
    chain; the chain then survives the move."""
    if is_simulated(uri):
        _start_simulated(uri, uuid, target_dev, COPY, dest_path)
        return
    if fmt not in ("qcow2", "raw"):
        raise InvalidConfig(f"unknown format {fmt!r}")
    disk = etree.Element("disk", type="file")
    etree.SubElement(disk, "source", file=dest_path)
    etree.SubElement(disk, "driver", type=fmt)
    dest = etree.tostring(disk, encoding="unicode")
    params = {libvirt.VIR_DOMAIN_BLOCK_COPY_BANDWIDTH: bandwidth_mib_s << 20} if bandwidth_mib_s else {}
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        flags = libvirt.VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB | libvirt.VIR_DOMAIN_BLOCK_COPY_REUSE_EXT
        if shallow:
            flags |= libvirt.VIR_DOMAIN_BLOCK_COPY_SHALLOW
        dom.blockCopy(target_dev, dest, params, flags)


def block_job(uri: str, uuid: str, target_dev: str) -> BlockJob | None:
    """The disk's job now, or None when it has none (finished or never started)."""
    if is_simulated(uri):
        with _guard:
            job = _simulated.get((uri, uuid, target_dev))
            if job is None:
                return None
            cur = min(job.end, job.cur + int(job.end * SIMULATED_STEP))
            if cur >= job.end and job.kind not in _PIVOTING:
                del _simulated[(uri, uuid, target_dev)]
                return replace(job, cur=cur)
            job = replace(job, cur=cur, ready=cur >= job.end)
            _simulated[(uri, uuid, target_dev)] = job
            return job
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        info = dom.blockJobInfo(target_dev, 0)
    if not info:
        return None
    kind = _KINDS.get(info.get("type"), COMMIT)
    ready = kind in _PIVOTING and info["end"] > 0 and info["cur"] == info["end"]
    return BlockJob(kind, target_dev, info["cur"], info["end"], ready, False)


def block_job_abort(uri: str, uuid: str, target_dev: str, *, pivot: bool = False) -> None:
    """Cancel the disk's job (the disk keeps its old source), or with ``pivot`` switch to the
    mirror / base of a ready copy or active commit."""
    if is_simulated(uri):
        with _guard:
            job = _simulated.pop((uri, uuid, target_dev), None)
        if job is None:
            raise OperationFailed(f"disk {target_dev} has no block job", uri=uri)
        if pivot:
            if not job.ready:
                _simulated[(uri, uuid, target_dev)] = job
                raise OperationFailed("the job is not ready to pivot", uri=uri)
            if job.new_source:
                disk_set_source(uri, uuid, target_dev, job.new_source)
        return
    flags = libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT if pivot else 0
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        dom.blockJobAbort(target_dev, flags)


def forget_simulated_jobs() -> None:
    """Tests: drop every modelled job (closing connections does not reach them)."""
    with _guard:
        _simulated.clear()
