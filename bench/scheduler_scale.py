"""Scheduler decision time at scale, on synthetic seeded clusters.

    .venv/bin/python bench/scheduler_scale.py

Prints DRS decision time (index build included) for 64 hosts x 8,000 instances and
1,000 hosts x 50,000 instances, and placement time per request at 1,000 hosts.
Targets (issue 8): DRS under 1 s for the first, placement under 5 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scheduler.core import drs  # noqa: E402
from scheduler.core.model import (  # noqa: E402
    ClusterPolicy,
    HostState,
    InstanceState,
    ServerGroup,
    ServerGroupPolicy,
    Snapshot,
)
from scheduler.core.placement import PlacementRequest, place  # noqa: E402
from scheduler.core.state import index_for  # noqa: E402

MS = 1000.0
HISTORY = 12
GROUPS = 50
P95 = 0.95


def cluster(hosts: int, instances: int, seed: int) -> Snapshot:
    """Hosts of two sizes; instances skewed onto a third of the hosts so DRS has work."""
    rng = random.Random(seed)
    per_host = instances / hosts
    cpus = max(32, int(per_host * 1.5 / 4) * 2)
    host_list = tuple(
        HostState(
            id=f"h{i:04d}",
            cluster="bench",
            cpus=cpus if i % 2 else cpus // 2 * 3,
            mhz=2600.0,
            memory_mb=int(per_host * 8192),
            tags=frozenset({"ssd"}),
        )
        for i in range(hosts)
    )
    groups = tuple(ServerGroup(f"g{g}", ServerGroupPolicy.ANTI_AFFINITY) for g in range(GROUPS))
    inst_list = []
    hot = max(hosts // 3, 1)
    for i in range(instances):
        host = host_list[rng.randrange(hot) if rng.random() < 0.5 else rng.randrange(hosts)]
        base = rng.uniform(50, 1500)
        history = tuple(max(base * rng.uniform(0.5, 1.5), 0.0) for _ in range(HISTORY))
        inst_list.append(
            InstanceState(
                id=f"i{i:06d}",
                host=host.id,
                vcpus=rng.choice((1, 1, 2)),
                memory_mb=rng.choice((1024, 2048, 4096)),
                cpu_demand_mhz=history,
                active_memory_mb=rng.uniform(256, 1024),
                dirty_rate_mb_s=rng.uniform(0, 30),
                server_group=f"g{i % GROUPS}" if i < GROUPS * 2 else None,
            )
        )
    return Snapshot(host_list, tuple(inst_list), server_groups=groups, now=1e6)


def time_drs(hosts: int, instances: int, policy: ClusterPolicy, seed: int) -> None:
    snap = cluster(hosts, instances, seed)
    started = time.perf_counter()
    index = index_for(snap, policy)
    built = time.perf_counter()
    result = drs.recommend(snap, policy)
    done = time.perf_counter()
    print(
        f"DRS {hosts} hosts x {instances:,} instances: {(done - started) * MS:.0f} ms "
        f"(index {(built - started) * MS:.0f} ms, recommend {(done - built) * MS:.0f} ms), "
        f"{len(result.moves)} moves, imbalance {result.imbalance_before:.3f} -> "
        f"{result.imbalance_after:.3f}; {len(index.instances):,} instances indexed"
    )


def time_placement(hosts: int, instances: int, policy: ClusterPolicy, seed: int, requests: int) -> None:
    snap = cluster(hosts, instances, seed)
    index_for(snap, policy)  # built once per snapshot, as the service does
    rng = random.Random(seed + 1)
    times = []
    placed = 0
    for n in range(requests):
        inst = InstanceState(
            id=f"new{n}",
            host=None,
            vcpus=rng.choice((1, 2, 4)),
            memory_mb=rng.choice((1024, 2048, 8192)),
            required_tags=frozenset({"ssd"}),
            server_group=f"g{n % GROUPS}" if n % 4 == 0 else None,
        )
        started = time.perf_counter()
        result = place(PlacementRequest(inst), snap, policy)
        times.append((time.perf_counter() - started) * MS)
        placed += result.ok
    times.sort()
    print(
        f"placement at {hosts} hosts ({instances:,} instances): median "
        f"{statistics.median(times):.2f} ms, p95 {times[int(len(times) * P95)]:.2f} ms, "
        f"max {times[-1]:.2f} ms over {requests} requests ({placed} placed)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args(argv)
    policy = ClusterPolicy(drs_threshold=3)
    time_drs(64, 8_000, policy, args.seed)
    time_drs(1_000, 50_000, policy, args.seed)
    time_placement(1_000, 50_000, policy, args.seed, args.requests)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
