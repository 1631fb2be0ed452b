"""Live and cold migration between two hosts, with progress.

Real hosts: ``virDomainMigrate3`` runs in a helper thread (it blocks until the job ends) while
the caller's thread polls ``jobStats`` about twice a second, reports progress, applies the
options that can only be set on a running job (maximum downtime, switch to post-copy) and
aborts on request. libvirt's test driver cannot migrate, so for two ``test://`` hosts the
same interface runs a pre-copy model (rounds over a dirty rate and a bandwidth, with a
downtime estimate) and then moves the definition: define on the target, remove from the
source. Its progress carries ``simulated=True``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import libvirt
from lxml import etree

from .connection import get_connection, is_simulated, lookup_domain
from .domain_read import set_vnc_listen
from .errors import InvalidConfig, NotSupported, OperationFailed, from_libvirt_error, translated

MIB = 1024 * 1024
POLL_INTERVAL_S = 0.5
QEMU_DEFAULT_DOWNTIME_MS = 300  # QEMU's own default downtime limit
SIMULATED_BANDWIDTH_MIB_S = 119  # about 1 Gbit/s when no limit is set
SIMULATED_MAX_ITERATIONS = 30
SIMULATED_SETUP_S = 0.2
AUTO_CONVERGE_STEP = 0.2  # each throttled round cuts the dirty rate by this share

PHASE_SETUP = "setup"
PHASE_PRECOPY = "precopy"
PHASE_POSTCOPY = "postcopy"
PHASE_COMPLETED = "completed"


@dataclass(frozen=True)
class MigrationOptions:
    live: bool = True  # False: cold (offline) migration of a stopped domain
    bandwidth_mib_s: int | None = None  # None: unlimited
    max_downtime_ms: int | None = None  # None: QEMU's default (300 ms)
    auto_converge: bool = False
    postcopy: bool = False  # allow switching to post-copy during the job
    compressed: bool = False
    parallel_connections: int | None = None
    copy_storage: bool = False  # non-shared disks are copied along
    shared_storage_unsafe: bool = True  # same local path on both hosts (the lab's shared pool)
    migration_uri: str | None = None  # where the target's QEMU listens, e.g. tcp://10.99.0.1
    dest_xml: str | None = None  # e.g. the definition with the cluster CPU baseline
    # With copy_storage: ((source file, file on the target), ...) of the disks to copy; the
    # target files exist already (same virtual size), the copies are flat (no backing chain).
    disk_targets: tuple[tuple[str, str], ...] = ()
    # ((source file, file on the target), ...) of read-only disks already put on the target with
    # the same content (the cloud-init seed): the definition points at them, nothing is copied.
    file_targets: tuple[tuple[str, str], ...] = ()
    vnc_listen: str | None = None  # the address the VNC server listens on at the destination

    def __post_init__(self) -> None:
        for name in ("bandwidth_mib_s", "max_downtime_ms", "parallel_connections"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise InvalidConfig(f"{name} must be positive, not {value}")
        if self.postcopy and not self.live:
            raise InvalidConfig("post-copy needs a live migration")
        if self.disk_targets and not self.copy_storage:
            raise InvalidConfig("disk targets are for copy-storage migrations")


@dataclass(frozen=True)
class MigrationProgress:
    phase: str
    percent: int
    memory_total: int
    memory_processed: int
    memory_remaining: int
    dirty_rate_bytes_s: int
    iteration: int
    expected_downtime_ms: int | None
    speed_bytes_s: int
    elapsed_ms: int
    disk_total: int = 0
    disk_processed: int = 0
    simulated: bool = False


@dataclass(frozen=True)
class MigrationResult:
    total_ms: int
    downtime_ms: int | None
    data_transferred: int
    iterations: int
    postcopy_used: bool
    simulated: bool


@dataclass
class MigrationControl:
    """Set by the caller's thread while a migration runs; read between polls."""

    cancel: threading.Event = field(default_factory=threading.Event)
    switch_to_postcopy: threading.Event = field(default_factory=threading.Event)


ProgressCallback = Callable[[MigrationProgress], None]


class MigrationCancelled(OperationFailed):
    """The job was aborted on request; the domain still runs on the source."""


def migration_flags(options: MigrationOptions) -> int:
    flags = libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    if options.live:
        flags |= libvirt.VIR_MIGRATE_LIVE
    else:
        flags |= libvirt.VIR_MIGRATE_OFFLINE
    if options.auto_converge:
        flags |= libvirt.VIR_MIGRATE_AUTO_CONVERGE
    if options.postcopy:
        flags |= libvirt.VIR_MIGRATE_POSTCOPY
    if options.compressed:
        flags |= libvirt.VIR_MIGRATE_COMPRESSED
    if options.parallel_connections:
        flags |= libvirt.VIR_MIGRATE_PARALLEL
    if options.copy_storage:
        flags |= libvirt.VIR_MIGRATE_NON_SHARED_DISK
    elif options.shared_storage_unsafe:
        flags |= libvirt.VIR_MIGRATE_UNSAFE
    return flags


def migration_params(options: MigrationOptions) -> dict[str, object]:
    params: dict[str, object] = {}
    if options.bandwidth_mib_s:
        params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = options.bandwidth_mib_s
    if options.migration_uri:
        params[libvirt.VIR_MIGRATE_PARAM_URI] = options.migration_uri
    if options.parallel_connections:
        params[libvirt.VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS] = options.parallel_connections
    if options.dest_xml:
        params[libvirt.VIR_MIGRATE_PARAM_DEST_XML] = options.dest_xml
    return params


def migrate_domain(
    src_uri: str,
    dst_uri: str,
    uuid: str,
    options: MigrationOptions,
    on_progress: ProgressCallback,
    control: MigrationControl | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> MigrationResult:
    """Move the domain from ``src_uri`` to ``dst_uri``; blocks until done.

    Raises MigrationCancelled when ``control.cancel`` was set (the domain stays on the
    source), OperationFailed and friends on other failures."""
    control = control or MigrationControl()
    if src_uri == dst_uri:
        raise InvalidConfig("source and target host are the same")
    simulated = is_simulated(src_uri), is_simulated(dst_uri)
    if all(simulated):
        return _simulate(src_uri, dst_uri, uuid, options, on_progress, control, sleep)
    if any(simulated):
        raise NotSupported("cannot migrate between a simulated and a real host")
    return _migrate_real(src_uri, dst_uri, uuid, options, on_progress, control, sleep)


# --- real hosts -------------------------------------------------------------------------


def retarget_disks(xml: str, targets: dict[str, str]) -> tuple[str, list[str]]:
    """The domain XML with each file disk whose source is a key of ``targets`` pointing at the
    value instead (its backing chain dropped: the copy is flat), and those disks' target devs."""
    root = etree.fromstring(xml.encode())
    devs, found = [], set()
    for disk in root.iterfind("devices/disk"):
        source = disk.find("source")
        if source is None or source.get("file") not in targets:
            continue
        found.add(source.get("file"))
        source.set("file", targets[source.get("file")])
        for backing in disk.findall("backingStore"):
            disk.remove(backing)
        devs.append(disk.find("target").get("dev"))
    missing = set(targets) - found
    if missing:
        raise InvalidConfig(f"the domain has no disk at {', '.join(sorted(missing))}")
    return etree.tostring(root, encoding="unicode"), devs


def _for_target(xml: str, options: MigrationOptions) -> tuple[str, list[str]]:
    """A definition as the target runs it: its VNC address, its copied disks' new files."""
    if options.vnc_listen:
        xml = set_vnc_listen(xml, options.vnc_listen)
    if options.file_targets:
        xml = retarget_disks(xml, dict(options.file_targets))[0]
    if options.disk_targets:
        return retarget_disks(xml, dict(options.disk_targets))
    return xml, []


def _progress_from_stats(stats: dict[str, int], started: float) -> MigrationProgress:
    total = stats.get("data_total") or stats.get("memory_total") or 0
    processed = stats.get("data_processed") or stats.get("memory_processed") or 0
    page = stats.get("memory_page_size", 4096)
    postcopy = stats.get("memory_postcopy_requests") is not None and stats.get("memory_postcopy_requests", 0) > 0
    return MigrationProgress(
        phase=PHASE_POSTCOPY if postcopy else (PHASE_PRECOPY if processed else PHASE_SETUP),
        percent=min(99, int(100 * processed / total)) if total else 0,
        memory_total=stats.get("memory_total", 0),
        memory_processed=stats.get("memory_processed", 0),
        memory_remaining=stats.get("memory_remaining", 0),
        dirty_rate_bytes_s=stats.get("memory_dirty_rate", 0) * page,
        iteration=stats.get("memory_iteration", 0),
        expected_downtime_ms=stats.get("downtime"),
        speed_bytes_s=stats.get("memory_bps", 0),
        elapsed_ms=stats.get("time_elapsed", int((time.monotonic() - started) * 1000)),
        disk_total=stats.get("disk_total", 0),
        disk_processed=stats.get("disk_processed", 0),
    )


def _migrate_real(src_uri, dst_uri, uuid, options, on_progress, control, sleep) -> MigrationResult:
    dom = lookup_domain(src_uri, uuid)
    dst = get_connection(dst_uri)
    flags = migration_flags(options)
    params = migration_params(options)
    if options.disk_targets or options.file_targets or options.vnc_listen:
        secure = libvirt.VIR_DOMAIN_XML_MIGRATABLE | libvirt.VIR_DOMAIN_XML_SECURE
        with translated(src_uri):
            xml = options.dest_xml or dom.XMLDesc(secure)
            # Without PERSIST_XML the target's persistent definition is the source's own.
            persist = dom.XMLDesc(secure | libvirt.VIR_DOMAIN_XML_INACTIVE) if dom.isPersistent() else None
        xml, disks = _for_target(xml, options)
        params[libvirt.VIR_MIGRATE_PARAM_DEST_XML] = xml
        if disks:
            params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = disks
        if persist is not None:
            params[libvirt.VIR_MIGRATE_PARAM_PERSIST_XML] = _for_target(persist, options)[0]
    outcome: dict[str, BaseException | None] = {"error": None}

    def run() -> None:
        try:
            dom.migrate3(dst, params, flags)
        except libvirt.libvirtError as exc:
            outcome["error"] = exc

    started = time.monotonic()
    worker = threading.Thread(target=run, name=f"migrate-{uuid}", daemon=True)
    worker.start()
    try:
        aborted, postcopy_started = _follow(dom, src_uri, worker, options, on_progress, control, started)
    except BaseException:
        # A time limit (Celery's SoftTimeLimitExceeded) or any error while following: libvirt
        # would go on migrating after the caller records a failure, so abort the job first.
        _abort_and_wait(dom, worker)
        raise
    error = outcome["error"]
    if error is not None:
        if aborted:
            raise MigrationCancelled("migration cancelled; the instance keeps running on the source", uri=src_uri)
        raise from_libvirt_error(error, src_uri)
    return _completed(dst_uri, uuid, started, postcopy_started)


ABORT_WAIT_S = 30  # how long an aborted job may take to wind down before the caller goes on


def _abort_and_wait(dom, worker) -> None:
    try:
        dom.abortJob()
    except libvirt.libvirtError:
        pass  # no job any more (it ended meanwhile): nothing to abort
    worker.join(ABORT_WAIT_S)


def abort_domain_job(uri: str, uuid: str) -> bool:
    """Abort the job libvirt runs on the domain (e.g. a migration whose client was lost);
    True when one was running. Simulated hosts run no job outside the caller's process."""
    if is_simulated(uri):
        return False
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        if dom.jobInfo()[0] == libvirt.VIR_DOMAIN_JOB_NONE:
            return False
        dom.abortJob()
    return True


def _follow(dom, src_uri, worker, options, on_progress, control, started) -> tuple[bool, bool]:
    """Poll the running job until the migrating thread ends: progress, options, cancel."""
    downtime_set = aborted = postcopy_started = False
    while worker.is_alive():
        worker.join(POLL_INTERVAL_S)
        if not worker.is_alive():
            break
        try:
            stats = dom.jobStats()
        except libvirt.libvirtError:
            continue  # the job may be finishing; the thread's outcome decides
        if stats.get("type", libvirt.VIR_DOMAIN_JOB_NONE) == libvirt.VIR_DOMAIN_JOB_NONE:
            continue
        if options.max_downtime_ms and not downtime_set:
            with translated(src_uri):
                dom.migrateSetMaxDowntime(options.max_downtime_ms)
            downtime_set = True
        if control.cancel.is_set() and not aborted and not postcopy_started:
            with translated(src_uri):
                dom.abortJob()
            aborted = True
        if control.switch_to_postcopy.is_set() and options.postcopy and not postcopy_started:
            with translated(src_uri):
                dom.migrateStartPostCopy()
            postcopy_started = True
        on_progress(_progress_from_stats(stats, started))
    return aborted, postcopy_started


def _completed(dst_uri: str, uuid: str, started: float, postcopy: bool) -> MigrationResult:
    stats: dict[str, int] = {}
    try:
        stats = lookup_domain(dst_uri, uuid).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    except libvirt.libvirtError:
        pass  # statistics of a finished job are a nicety; the move itself succeeded
    return MigrationResult(
        total_ms=stats.get("time_elapsed", int((time.monotonic() - started) * 1000)),
        downtime_ms=stats.get("downtime"),
        data_transferred=stats.get("data_processed", 0),
        iterations=stats.get("memory_iteration", 0),
        postcopy_used=postcopy,
        simulated=False,
    )


# --- simulated hosts --------------------------------------------------------------------


def precopy_rounds(
    memory_bytes: int, bandwidth_bytes_s: float, dirty_bytes_s: float, max_downtime_ms: int, auto_converge: bool
) -> list[tuple[int, float, float]]:
    """The pre-copy model: [(bytes sent in the round, round seconds, dirty rate)], the last
    entry being the stop-and-copy. Round 1 sends all memory; each later round sends what was
    dirtied during the previous one, until the rest fits in the downtime limit. Without
    auto-converge a guest that dirties faster than the link never converges."""
    rounds = []
    to_send = float(memory_bytes)
    dirty = float(dirty_bytes_s)
    limit_bytes = bandwidth_bytes_s * max_downtime_ms / 1000
    for _ in range(SIMULATED_MAX_ITERATIONS):
        seconds = to_send / bandwidth_bytes_s
        rounds.append((int(to_send), seconds, dirty))
        to_send = min(float(memory_bytes), dirty * seconds)
        if to_send <= limit_bytes:
            rounds.append((int(to_send), to_send / bandwidth_bytes_s, dirty))
            return rounds
        if auto_converge:
            dirty *= 1 - AUTO_CONVERGE_STEP
    raise OperationFailed(
        f"migration does not converge: the guest dirties {dirty / MIB:.0f} MiB/s against a link of "
        f"{bandwidth_bytes_s / MIB:.0f} MiB/s; enable auto-converge or post-copy, or raise the bandwidth"
    )


def simulated_dirty_rate(uuid: str, memory_bytes: int) -> float:
    """A steady per-guest dirty rate from its UUID: 0.5 % to 4 % of its memory per second."""
    seed = int(uuid.replace("-", "")[:8], 16) if uuid else 0
    return memory_bytes * (0.005 + 0.035 * (seed % 1000) / 1000)


def _simulate(src_uri, dst_uri, uuid, options, on_progress, control, sleep) -> MigrationResult:
    dom = lookup_domain(src_uri, uuid)
    with translated(src_uri):
        state, _, memory_kib, _, _ = dom.info()
        running = state == libvirt.VIR_DOMAIN_RUNNING
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    if options.live and not running:
        raise InvalidConfig("a live migration needs a running instance; use a cold migration")
    memory = memory_kib * 1024
    bandwidth = (options.bandwidth_mib_s or SIMULATED_BANDWIDTH_MIB_S) * MIB
    downtime_limit = options.max_downtime_ms or QEMU_DEFAULT_DOWNTIME_MS
    started = time.monotonic()
    sent = 0
    iterations = 0
    postcopy_used = False
    if options.live:
        try:
            rounds = precopy_rounds(
                memory, bandwidth, simulated_dirty_rate(uuid, memory), downtime_limit, options.auto_converge
            )
        except OperationFailed:
            if not options.postcopy:
                raise
            rounds = [(memory, memory / bandwidth, simulated_dirty_rate(uuid, memory)), (0, 0.0, 0.0)]
            postcopy_used = True
    else:
        rounds = [(memory, memory / bandwidth, 0.0)]
    total = sum(size for size, _, _ in rounds)
    sleep(SIMULATED_SETUP_S)
    for iterations, (size, seconds, dirty) in enumerate(rounds, start=1):
        steps = max(1, math.ceil(seconds / POLL_INTERVAL_S))
        for step in range(1, steps + 1):
            if control.cancel.is_set():
                raise MigrationCancelled("migration cancelled; the instance keeps running on the source", uri=src_uri)
            if control.switch_to_postcopy.is_set() and options.postcopy:
                postcopy_used = True
            sleep(seconds / steps)
            done = sent + size * step // steps
            remaining_round = size - size * step // steps
            on_progress(
                MigrationProgress(
                    phase=PHASE_POSTCOPY if postcopy_used else PHASE_PRECOPY,
                    percent=min(99, int(100 * done / total)) if total else 99,
                    memory_total=memory,
                    memory_processed=done,
                    memory_remaining=max(
                        0, remaining_round + (int(dirty * seconds) if iterations < len(rounds) else 0)
                    ),
                    dirty_rate_bytes_s=int(dirty),
                    iteration=iterations,
                    expected_downtime_ms=int(1000 * rounds[-1][0] / bandwidth) if options.live else None,
                    speed_bytes_s=int(bandwidth),
                    elapsed_ms=int((time.monotonic() - started) * 1000),
                    simulated=True,
                )
            )
        sent += size
        if postcopy_used:
            break
    _move_definition(src_uri, dst_uri, uuid, xml, running)
    downtime = int(1000 * rounds[-1][0] / bandwidth) if options.live else None
    return MigrationResult(
        total_ms=int((time.monotonic() - started) * 1000),
        downtime_ms=downtime,
        data_transferred=sent,
        iterations=iterations,
        postcopy_used=postcopy_used,
        simulated=True,
    )


def _move_definition(src_uri: str, dst_uri: str, uuid: str, xml: str, running: bool) -> None:
    """Define and start on the target first, then remove from the source: if the target
    step fails the domain is still whole on the source."""
    dst = get_connection(dst_uri)
    with translated(dst_uri):
        new = dst.defineXML(xml)
        try:
            if running:
                new.create()
        except libvirt.libvirtError:
            new.undefine()
            raise
    src = lookup_domain(src_uri, uuid)
    with translated(src_uri):
        if src.isActive():
            src.destroy()
        src.undefine()
