"""A short simulated day, its decision log printed as JSON: the determinism check.

    .venv/bin/python -m bench.sim.repeat [--vms 160] [--hosts 80] [--steps 72]

Runs the first `--steps` samples of every k-th VM of a shared PlanetLab day (or, without the
data, a seeded synthetic set of traces) through the simulator, and prints one JSON line:
the source of the traces and every migration and power action in order. Two runs under
different PYTHONHASHSEED values must print the same line.
"""

from __future__ import annotations

import argparse
import json
import random
import sys

from .engine import Overcommit, Simulation
from .policy import SIM_POLICY
from .traces import available_days, default_data_dir, load_day

SYNTHETIC_SEED = 20110322
PERCENT_MAX = 100


def synthetic_traces(vms: int, steps: int) -> list[list[int]]:
    """Random walks between 0 and 100 %, some VMs busy, most quiet, as on PlanetLab."""
    rng = random.Random(SYNTHETIC_SEED)
    traces = []
    for _ in range(vms):
        level = rng.choice((5, 10, 20, 40, 70))
        series = []
        for _ in range(steps):
            level = min(max(level + rng.randint(-15, 15), 0), PERCENT_MAX)
            series.append(level)
        traces.append(series)
    return traces


def day_slice(day: str | None, vms: int, steps: int) -> tuple[str, list[list[int]]]:
    data = default_data_dir()
    days = available_days(data) if data.is_dir() else []
    if not days:
        return "synthetic", synthetic_traces(vms, steps)
    day = day or days[-1]
    traces = load_day(data, day)
    every = max(len(traces) // vms, 1)
    return f"planetlab {day}", [t[:steps] for t in traces[::every][:vms]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day")
    parser.add_argument("--vms", type=int, default=160)
    parser.add_argument("--hosts", type=int, default=80)
    parser.add_argument("--steps", type=int, default=72)
    args = parser.parse_args(argv)
    source, traces = day_slice(args.day, args.vms, args.steps)
    sim = Simulation(source, traces, args.hosts, SIM_POLICY, Overcommit.CLOUDSIM)
    result = sim.run()
    json.dump({"source": source, "migrations": result.migrations, "log": sim.log}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
