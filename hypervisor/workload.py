"""Deterministic workload model for simulated (test://) hosts.

libvirt's test driver reports no statistics, yet the monitoring, DRS and DPM code needs
moving numbers. Every quantity here is a pure function of (seed key, time): a daily cycle,
smooth noise and periodic bursts. Counters are integrals of a strictly positive rate, so
they only grow, and tests can ask for any instant.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

MODEL_EPOCH = 1_767_225_600.0  # 2026-01-01: counters start here, staying well inside int64
DAY_S = 86_400.0
NOISE_STEP_S = 300.0


@dataclass(frozen=True)
class Profile:
    base: float  # mean activity, fraction of one busy CPU
    amplitude: float  # relative size of the daily swing, < 1
    phase: float
    burst_period_s: float
    burst_width_s: float
    burst_offset_s: float
    burst_gain: float
    noise_gain: float
    noise_seed: int


def profile(key: str) -> Profile:
    """The activity profile seeded by ``key`` (a domain UUID plus a metric group)."""
    rng = random.Random(hashlib.sha256(key.encode()).digest())
    base = rng.uniform(0.05, 0.4)
    amplitude = rng.uniform(0.2, 0.6)
    period = rng.uniform(1800.0, 7200.0)
    return Profile(
        base=base,
        amplitude=amplitude,
        phase=rng.uniform(0.0, 2 * math.pi),
        burst_period_s=period,
        burst_width_s=rng.uniform(60.0, 600.0),
        burst_offset_s=rng.uniform(0.0, period),
        burst_gain=rng.uniform(0.05, 0.2),
        # Noise slope stays below the smallest daily rate, so the total rate stays positive.
        noise_gain=base * (1 - amplitude) * NOISE_STEP_S / 8,
        noise_seed=rng.getrandbits(64),
    )


def _knot(p: Profile, k: int) -> float:
    digest = hashlib.blake2b(f"{p.noise_seed}:{k}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**63 - 1.0  # in [-1, 1)


def _noise(p: Profile, t: float) -> float:
    k = math.floor(t / NOISE_STEP_S)
    x = t / NOISE_STEP_S - k
    ease = x * x * (3 - 2 * x)
    return p.noise_gain * (_knot(p, k) + (_knot(p, k + 1) - _knot(p, k)) * ease)


def _burst_seconds(p: Profile, t: float) -> float:
    """Time spent inside bursts between the model epoch and t."""
    if t < p.burst_offset_s:
        return 0.0
    periods = math.floor((t - p.burst_offset_s) / p.burst_period_s)
    into = t - p.burst_offset_s - periods * p.burst_period_s
    return periods * p.burst_width_s + min(p.burst_width_s, into)


def activity_integral(p: Profile, at: float) -> float:
    """Busy seconds accumulated from the model epoch to ``at`` (unix time); monotonic."""
    t = max(at - MODEL_EPOCH, 0.0)
    omega = 2 * math.pi / DAY_S
    daily = p.base * (t + p.amplitude / omega * (math.cos(p.phase) - math.cos(omega * t + p.phase)))
    return daily + p.burst_gain * _burst_seconds(p, t) + _noise(p, t) - _noise(p, 0.0)


def activity(p: Profile, at: float) -> float:
    """Instantaneous activity (busy CPUs per vCPU), the derivative of activity_integral."""
    step = 1.0
    return (activity_integral(p, at + step) - activity_integral(p, at)) / step


def peak_activity(p: Profile) -> float:
    return p.base * (1 + p.amplitude) + p.burst_gain + 3 * p.noise_gain / NOISE_STEP_S


def domain_counters(uuid: str, vcpus: int, memory_kib: int, at: float) -> dict[str, int]:
    """Simulated getAllDomainStats-like values for one running domain at time ``at``."""
    cpu = profile(f"{uuid}/cpu")
    net = profile(f"{uuid}/net")
    disk = profile(f"{uuid}/block")
    mem = profile(f"{uuid}/memory")
    traits = random.Random(hashlib.sha256(f"{uuid}/traits".encode()).digest())
    rx_rate = traits.uniform(1e5, 5e6)  # bytes per busy second
    tx_rate = rx_rate * traits.uniform(0.2, 1.5)
    packet = traits.uniform(300, 1400)
    read_rate, write_rate = traits.uniform(1e5, 2e7), traits.uniform(1e5, 1e7)
    io_size = traits.choice((4096, 16384, 65536, 131072))
    net_busy, disk_busy = activity_integral(net, at), activity_integral(disk, at)
    memory_use = min(activity(mem, at) / peak_activity(mem), 1.0)
    rss = int(memory_kib * (0.35 + 0.5 * memory_use))
    return {
        "cpu_time_ns": int(vcpus * activity_integral(cpu, at) * 1e9),
        "vcpus": vcpus,
        "balloon_current_kib": memory_kib,
        "balloon_available_kib": memory_kib,
        "balloon_unused_kib": max(memory_kib - rss - memory_kib // 10, 0),
        "balloon_rss_kib": rss,
        "net_rx_bytes": int(net_busy * rx_rate),
        "net_tx_bytes": int(net_busy * tx_rate),
        "net_rx_packets": int(net_busy * rx_rate / packet),
        "net_tx_packets": int(net_busy * tx_rate / packet),
        "block_rd_bytes": int(disk_busy * read_rate),
        "block_wr_bytes": int(disk_busy * write_rate),
        "block_rd_reqs": int(disk_busy * read_rate / io_size),
        "block_wr_reqs": int(disk_busy * write_rate / io_size),
    }


def node_cpu_counters(key: str, cpus: int, at: float) -> dict[str, int]:
    """Simulated host CPU time split (ns) for a host seeded by ``key`` (its URI)."""
    busy = activity_integral(profile(f"{key}/node"), at) * cpus
    elapsed = max(at - MODEL_EPOCH, 0.0) * cpus
    user = busy * 0.85
    kernel = busy * 0.12
    iowait = busy * 0.03
    return {
        "cpu_user_ns": int(user * 1e9),
        "cpu_kernel_ns": int(kernel * 1e9),
        "cpu_iowait_ns": int(iowait * 1e9),
        "cpu_idle_ns": int(max(elapsed - busy, 0.0) * 1e9),
    }
