"""Bulk statistics: one getAllDomainStats call per host per sample.

On simulated hosts the test driver returns only the state group; the counters then come
from the deterministic workload model and the records say simulated=True.
"""

from __future__ import annotations

import time

import libvirt

from .connection import get_connection, is_simulated
from .errors import translated
from .types import STATE_NAMES, DomainStats, NodeStats
from .workload import domain_counters, node_cpu_counters

STATS_GROUPS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
    | libvirt.VIR_DOMAIN_STATS_BLOCK
)
_ACTIVE_STATES = (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED, libvirt.VIR_DOMAIN_PAUSED)


def _sum(record: dict[str, int], prefix: str, suffix: str) -> int | None:
    # net.0.rx.bytes, net.1.rx.bytes ...: one total per domain.
    values = [v for k, v in record.items() if k.startswith(prefix) and k.endswith(suffix)]
    return sum(values) if values else None


def _real_record(dom: libvirt.virDomain, record: dict[str, int], now: float) -> DomainStats:
    return DomainStats(
        uuid=dom.UUIDString(),
        name=dom.name(),
        state=STATE_NAMES.get(record.get("state.state", -1), "nostate"),
        timestamp=now,
        simulated=False,
        cpu_time_ns=record.get("cpu.time"),
        vcpus=record.get("vcpu.current"),
        balloon_current_kib=record.get("balloon.current"),
        balloon_available_kib=record.get("balloon.available"),
        balloon_unused_kib=record.get("balloon.unused"),
        balloon_rss_kib=record.get("balloon.rss"),
        net_rx_bytes=_sum(record, "net.", ".rx.bytes"),
        net_tx_bytes=_sum(record, "net.", ".tx.bytes"),
        net_rx_packets=_sum(record, "net.", ".rx.pkts"),
        net_tx_packets=_sum(record, "net.", ".tx.pkts"),
        block_rd_bytes=_sum(record, "block.", ".rd.bytes"),
        block_wr_bytes=_sum(record, "block.", ".wr.bytes"),
        block_rd_reqs=_sum(record, "block.", ".rd.reqs"),
        block_wr_reqs=_sum(record, "block.", ".wr.reqs"),
    )


def _simulated_record(dom: libvirt.virDomain, record: dict[str, int], now: float) -> DomainStats:
    code = record.get("state.state", -1)
    uuid = dom.UUIDString()
    counters = {}
    if code in _ACTIVE_STATES:
        _state, _max_kib, memory_kib, vcpus, _cpu = dom.info()  # in-process, no RPC
        counters = domain_counters(uuid, vcpus, memory_kib, now)
    return DomainStats(
        uuid=uuid, name=dom.name(), state=STATE_NAMES.get(code, "nostate"), timestamp=now, simulated=True, **counters
    )


def bulk_domain_stats(uri: str, at: float | None = None) -> tuple[DomainStats, ...]:
    """One record per domain on the host. ``at`` (unix time) only drives the simulation;
    real hosts always report now."""
    simulated = is_simulated(uri)
    conn = get_connection(uri)
    now = time.time() if at is None or not simulated else at
    with translated(uri):
        if simulated:
            records = conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE, 0)
            result = [_simulated_record(dom, rec, now) for dom, rec in records]
        else:
            records = conn.getAllDomainStats(STATS_GROUPS, 0)
            result = [_real_record(dom, rec, now) for dom, rec in records]
    return tuple(sorted(result, key=lambda r: r.name))


def node_stats(uri: str, at: float | None = None) -> NodeStats:
    """Host CPU time split and memory; simulated from the workload model on test:// hosts."""
    simulated = is_simulated(uri)
    conn = get_connection(uri)
    now = time.time() if at is None or not simulated else at
    with translated(uri):
        cpus = conn.getInfo()[2]
        if simulated:
            total_kib = conn.getInfo()[1] * 1024
            active = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
            free_kib = max(total_kib - sum(dom.info()[2] for dom in active), 0)
            return NodeStats(
                timestamp=now,
                simulated=True,
                cpus=cpus,
                memory_total_kib=total_kib,
                memory_free_kib=free_kib,
                **node_cpu_counters(uri, cpus, now),
            )
        cpu = conn.getCPUStats(libvirt.VIR_NODE_CPU_STATS_ALL_CPUS, 0)
        memory = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)
    return NodeStats(
        timestamp=now,
        simulated=False,
        cpus=cpus,
        cpu_user_ns=cpu.get("user", 0),
        cpu_kernel_ns=cpu.get("kernel", 0),
        cpu_idle_ns=cpu.get("idle", 0),
        cpu_iowait_ns=cpu.get("iowait", 0),
        memory_total_kib=memory.get("total", 0),
        memory_free_kib=memory.get("free", 0) + memory.get("buffers", 0) + memory.get("cached", 0),
    )
