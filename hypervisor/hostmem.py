"""Host memory overcommit facts libvirt does not report: KSM (same-page merging) and swap.

A host on the portal's own machine (``qemu:///system``) is read from ``/sys/kernel/mm/ksm`` and
``/proc/meminfo``. A remote host is read over its libvirt connection: KSM's counters from the
node memory parameters (``virNodeGetMemoryParameters``: libvirt reads the same sysfs files on
the host) and memory from ``virNodeGetMemoryStats``. libvirt reports neither KSM's on/off state
nor swap, so those stay None there. KSM's scanning is tuned on every real host through
``virNodeSetMemoryParameters`` (pages per scan, sleep between scans, merging across NUMA nodes:
libvirt writes the host's sysfs); it has no run switch, so KSM is switched on or off only on a
local host, and on a remote one ``pages_to_scan=0`` pauses merging instead (merged pages stay
merged, as with run=0). Simulated hosts answer ``readable=False``. ``sys_root`` / ``proc_root``
are parameters so tests pass a fake tree.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from pathlib import Path

from .connection import get_connection, is_local, is_simulated
from .errors import HypervisorError, InvalidConfig, NotSupported, OperationFailed, translated

KSM_DIR = "kernel/mm/ksm"
KSM_STOP, KSM_RUN, KSM_UNMERGE = 0, 1, 2  # values of /sys/kernel/mm/ksm/run
KSM_RUN_VALUES = (KSM_STOP, KSM_RUN, KSM_UNMERGE)
BYTES_PER_KIB = 1024
MEMINFO_FIELDS = {
    "MemTotal": "mem_total_kib",
    "MemAvailable": "mem_available_kib",
    "SwapTotal": "swap_total_kib",
    "SwapFree": "swap_free_kib",
}
DEFAULT_SYS = Path("/sys")
DEFAULT_PROC = Path("/proc")
REMOTE_PAGE_KIB = 4  # libvirt does not say the host's page size; KSM merges base pages (4 KiB on x86)
REMOTE_NOTE = "read over libvirt: KSM's on/off state and swap are not reported there"
# sysfs file -> libvirt's node memory parameter, for the settings that tune KSM's scanning
KSM_TUNABLES = {
    "pages_to_scan": "shm_pages_to_scan",
    "sleep_millisecs": "shm_sleep_millisecs",
    "merge_across_nodes": "shm_merge_across_nodes",
}
KSM_LIMITS = {"pages_to_scan": (0, 100_000), "sleep_millisecs": (0, 60_000), "merge_across_nodes": (0, 1)}


@dataclass(frozen=True)
class HostMemory:
    readable: bool
    note: str = ""
    ksm_available: bool = False
    ksm_run: int | None = None
    ksm_pages_shared: int | None = None  # distinct pages KSM keeps
    ksm_pages_sharing: int | None = None  # guest pages mapped onto them (the saving)
    ksm_saved_kib: int | None = None
    ksm_pages_to_scan: int | None = None  # pages scanned per wake-up (0: merging paused)
    ksm_sleep_millisecs: int | None = None
    ksm_merge_across_nodes: int | None = None
    mem_total_kib: int | None = None
    mem_available_kib: int | None = None
    swap_total_kib: int | None = None
    swap_free_kib: int | None = None


SIMULATED_NOTE = "not readable: a simulated host has no /sys or /proc"


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise OperationFailed(f"{path} does not hold a number: {exc}") from exc


def read_meminfo(proc_root: Path = DEFAULT_PROC) -> dict[str, int]:
    """The fields of /proc/meminfo we use, in KiB."""
    values: dict[str, int] = {}
    for line in (Path(proc_root) / "meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in MEMINFO_FIELDS and rest.split():
            values[MEMINFO_FIELDS[key]] = int(rest.split()[0])
    return values


def host_memory(
    uri: str, *, sys_root: Path = DEFAULT_SYS, proc_root: Path = DEFAULT_PROC, page_size: int | None = None
) -> HostMemory:
    """KSM state and savings plus swap of a local host; ``readable=False`` elsewhere."""
    if is_simulated(uri):
        return HostMemory(readable=False, note=SIMULATED_NOTE)
    if not is_local(uri):
        return _remote_memory(uri)
    ksm = Path(sys_root) / KSM_DIR
    page_kib = (page_size or resource.getpagesize()) // BYTES_PER_KIB
    try:
        meminfo = read_meminfo(proc_root)
    except OSError as exc:
        return HostMemory(readable=False, note=f"not readable: {exc}")
    run = _read_int(ksm / "run")
    sharing = _read_int(ksm / "pages_sharing")
    return HostMemory(
        readable=True,
        note="" if run is not None else "this kernel has no KSM (/sys/kernel/mm/ksm missing)",
        ksm_available=run is not None,
        ksm_run=run,
        ksm_pages_shared=_read_int(ksm / "pages_shared"),
        ksm_pages_sharing=sharing,
        ksm_saved_kib=sharing * page_kib if sharing is not None else None,
        **{f"ksm_{name}": _read_int(ksm / name) for name in KSM_TUNABLES},
        **meminfo,
    )


def _remote_memory(uri: str) -> HostMemory:
    """KSM's counters and the host's memory over the libvirt connection."""
    try:
        conn = get_connection(uri)
        with translated(uri):
            params = conn.getMemoryParameters(0)
            stats = conn.getMemoryStats(-1, 0)  # VIR_NODE_MEMORY_STATS_ALL_CELLS
    except HypervisorError as exc:
        return HostMemory(readable=False, note=f"not readable: {exc}")
    sharing = params.get("shm_pages_sharing")
    available = sum(stats.get(key, 0) for key in ("free", "buffers", "cached"))
    return HostMemory(
        readable=True,
        note=REMOTE_NOTE,
        ksm_available="shm_pages_shared" in params,
        ksm_pages_shared=params.get("shm_pages_shared"),
        ksm_pages_sharing=sharing,
        ksm_saved_kib=sharing * REMOTE_PAGE_KIB if sharing is not None else None,
        **{f"ksm_{name}": params.get(param) for name, param in KSM_TUNABLES.items()},
        mem_total_kib=stats.get("total"),
        mem_available_kib=available or None,
    )


def ksm_set_run(uri: str, run: int, *, sys_root: Path = DEFAULT_SYS) -> None:
    """Start (1), stop (0) or stop-and-unmerge (2) KSM on a local host."""
    if run not in KSM_RUN_VALUES:
        raise InvalidConfig(f"KSM run is one of {KSM_RUN_VALUES}, not {run!r}", uri=uri)
    if is_simulated(uri):
        raise NotSupported(SIMULATED_NOTE, uri=uri)
    if not is_local(uri):
        raise NotSupported(
            f"KSM is switched on or off only on the portal's own host: libvirt's node memory "
            f"parameters have no run switch (set /sys/kernel/mm/ksm/run on {uri} itself, or pause "
            "merging there with pages_to_scan=0)",
            uri=uri,
        )
    path = Path(sys_root) / KSM_DIR / "run"
    if not path.exists():
        raise NotSupported("this kernel has no KSM (/sys/kernel/mm/ksm missing)", uri=uri)
    try:
        path.write_text(f"{run}\n")
    except OSError as exc:
        raise OperationFailed(f"cannot write {path}: {exc}", uri=uri) from exc


def ksm_tune(uri: str, settings: dict[str, int]) -> None:
    """Set KSM's scanning (``pages_to_scan``, ``sleep_millisecs``, ``merge_across_nodes``) on any
    real host through libvirt's node memory parameters; libvirt writes the host's sysfs."""
    if not settings:
        raise InvalidConfig("no KSM setting to change", uri=uri)
    for name, value in settings.items():
        low, high = KSM_LIMITS.get(name, (None, None))
        if low is None or not isinstance(value, int) or not low <= value <= high:
            raise InvalidConfig(f"KSM {name} is an integer in {low}..{high}, not {value!r}", uri=uri)
    if is_simulated(uri):
        raise NotSupported(SIMULATED_NOTE, uri=uri)
    params = {KSM_TUNABLES[name]: value for name, value in settings.items()}
    conn = get_connection(uri)
    with translated(uri):
        conn.setMemoryParameters(params, 0)
