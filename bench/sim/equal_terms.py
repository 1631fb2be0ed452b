"""`planetlab_sim.py --equal-terms`: the reference policies and ours on equal terms.

The calibration runs (calibrate.py) follow CloudSim 3.0.3, which removes every VM idle at an
update for the rest of the day (about half of them). Our policy keeps every VM all day. Here
the references run through the same engine with that rule off (`run_reference(cloudsim=False)`):
every VM all day, sampled on the 300 s marks, every frame counted, as our runs are. What still
favours the references: their hosts draw nothing while empty (CloudSim's hosts are off when
idle; ours draw until DPM puts them in standby, and a wake costs a boot step).

Deterministic: the traces are read in the archive's order and every policy breaks ties by
index, so the same day prints the same table.
"""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .engine import DayResult, Overcommit, Simulation
from .policy import SIM_POLICY
from .reference.detection import DETECTORS
from .reference.run import ReferenceResult, run_reference
from .traces import load_day

OURS = "Nubes"
PERCENT = 100.0


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run(job: tuple[Path, str, int, str]) -> DayResult | ReferenceResult:
    data, day, hosts, policy = job
    traces = load_day(data, day)
    if policy == OURS:
        return Simulation(day, traces, hosts, SIM_POLICY, Overcommit.CLOUDSIM).run(_progress)
    return run_reference(day, traces, hosts, policy, _progress, cloudsim=False)


def _cells(r: DayResult | ReferenceResult) -> str:
    return f"{r.energy_kwh:>7.1f} {r.migrations:>6} {r.slatah * PERCENT:>7.3f} {r.pdm * PERCENT:>7.4f} {r.esv:>10.7f}"


def equal_terms(data: Path, days: list[str], hosts: int, jobs: int = 2, out=sys.stdout) -> list[str]:
    """Runs every policy on every day with all VMs kept; prints one row per policy-day and
    a verdict per day (our energy, ESV and migrations against each reference's). Returns
    the days on which ours used less energy and had a lower ESV than every reference."""
    policies = [*DETECTORS, OURS]
    work = [(data, day, hosts, policy) for day in days for policy in policies]
    with ProcessPoolExecutor(max_workers=max(jobs, 1)) as pool:
        results = pool.map(_run, work)  # in order: each day prints as soon as its runs are done
        return _report(days, policies, results, out)


def _report(days, policies, results, out) -> list[str]:
    print("every VM kept all day, the same engine, accounting and clock for all (equal_terms.py)", file=out)
    print(f"{'day':<9} {'policy':<12} {'kWh':>7} {'migr':>6} {'SLATAH%':>7} {'PDM%':>7} {'ESV':>10}", file=out)
    better_days = []
    for day in days:
        rows = {policy: next(results) for policy in policies}
        for policy, r in rows.items():
            print(f"{day:<9} {policy:<12} {_cells(r)}", file=out)
        ours = rows.pop(OURS)
        lowest = min(rows.values(), key=lambda r: r.energy_kwh)
        best = min(rows.values(), key=lambda r: r.esv)
        wins = ours.energy_kwh < lowest.energy_kwh and ours.esv < best.esv
        if wins:
            better_days.append(day)
        print(
            f"  {day}: our energy {ours.energy_kwh / lowest.energy_kwh:.1%} of the lowest reference's "
            f"({lowest.policy}), ESV {ours.esv / best.esv:.1%} of the best's ({best.policy}), "
            f"migrations {ours.migrations / best.migrations:.1%} of its count",
            file=out,
            flush=True,
        )
    print(f"ours below every reference in energy and ESV on {len(better_days)} of {len(days)} days", file=out)
    return better_days
