"""From libvirt's counters to the numbers people read: pure functions, no Django.

Counters (CPU time, bytes, requests, packets) only grow while a domain lives; when one is
smaller than the last reading the domain restarted (or moved), so the counter began again
at zero and its increase since then is the reading itself - Prometheus' rule for resets.
"""

NS_PER_S = 1_000_000_000
KIB_PER_MIB = 1024
MAX_PERCENT = 100.0

# DomainStats field -> (metric, kind): the rates derived per instance.
RATES = {
    "block_rd_bytes": "disk_read_bps",
    "block_wr_bytes": "disk_write_bps",
    "block_rd_reqs": "disk_read_iops",
    "block_wr_reqs": "disk_write_iops",
    "net_rx_bytes": "net_rx_bps",
    "net_tx_bytes": "net_tx_bps",
    "net_rx_packets": "net_rx_pps",
    "net_tx_packets": "net_tx_pps",
}
DOMAIN_FIELDS = (
    "cpu_time_ns",
    "vcpus",
    "balloon_current_kib",
    "balloon_available_kib",
    "balloon_unused_kib",
    "balloon_rss_kib",
    *RATES,
)
NODE_FIELDS = (
    "cpus",
    "cpu_user_ns",
    "cpu_kernel_ns",
    "cpu_idle_ns",
    "cpu_iowait_ns",
    "memory_total_kib",
    "memory_free_kib",
)


def counter_delta(previous, current):
    """Increase of a monotonic counter between two readings; None when either is missing."""
    if previous is None or current is None:
        return None
    return current if current < previous else current - previous


def rate(previous, current, seconds):
    """Per-second increase, or None without two readings over a positive interval."""
    delta = counter_delta(previous, current)
    if delta is None or seconds <= 0:
        return None
    return delta / seconds


def clamp_percent(value):
    return None if value is None else max(0.0, min(MAX_PERCENT, value))


def cpu_percent(previous_ns, current_ns, seconds, vcpus):
    """CPU use as % of the domain's vCPUs (100 = every vCPU busy the whole interval)."""
    per_second = rate(previous_ns, current_ns, seconds)
    if per_second is None or not vcpus:
        return None
    return clamp_percent(100.0 * per_second / NS_PER_S / vcpus)


def mib(kib):
    return None if kib is None else kib / KIB_PER_MIB


def reading(stats, fields):
    """A plain dict of a gateway stats record: what the collector keeps between runs."""
    values = {name: getattr(stats, name) for name in fields}
    values["ts"] = stats.timestamp
    return values


def derive_instance(previous, current):
    """Metrics of one instance from this reading and the last one (None on the first)."""
    used = current.get("balloon_rss_kib")
    if (
        used is None
        and current.get("balloon_current_kib") is not None
        and current.get("balloon_unused_kib") is not None
    ):
        used = current["balloon_current_kib"] - current["balloon_unused_kib"]
    values = {
        "mem_used_mb": mib(used),
        "mem_balloon_mb": mib(current.get("balloon_current_kib")),
        "mem_available_mb": mib(current.get("balloon_available_kib")),
        "cpu_pct": None,
        **{metric: None for metric in RATES.values()},
    }
    if not previous:
        return values
    seconds = current["ts"] - previous["ts"]
    values["cpu_pct"] = cpu_percent(
        previous.get("cpu_time_ns"), current.get("cpu_time_ns"), seconds, current.get("vcpus")
    )
    for counter, metric in RATES.items():
        values[metric] = rate(previous.get(counter), current.get(counter), seconds)
    return values


def derive_host(previous, current, running):
    """Host CPU % and load (busy CPUs) from the node's CPU time split, memory, and the
    number of running domains."""
    total_kib, free_kib = current.get("memory_total_kib"), current.get("memory_free_kib")
    values = {
        "cpu_pct": None,
        "load": None,
        "mem_used_mb": mib(total_kib - free_kib) if total_kib is not None and free_kib is not None else None,
        "mem_free_mb": mib(free_kib),
        "running_instances": float(running),
    }
    if not previous:
        return values
    busy = [counter_delta(previous.get(k), current.get(k)) for k in ("cpu_user_ns", "cpu_kernel_ns")]
    idle = [counter_delta(previous.get(k), current.get(k)) for k in ("cpu_idle_ns", "cpu_iowait_ns")]
    if None in busy or None in idle:
        return values
    total = sum(busy) + sum(idle)
    seconds = current["ts"] - previous["ts"]
    if total > 0:
        values["cpu_pct"] = clamp_percent(100.0 * sum(busy) / total)
    if seconds > 0:
        values["load"] = sum(busy) / NS_PER_S / seconds
    return values
