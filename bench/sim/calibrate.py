"""`planetlab_sim.py --calibrate`: each CloudSim reference policy through our engine against
CloudSim's own figures (the data README's per-day table), then our policy on the same engine
beside them. One day at a time; each run is timed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .engine import DayResult, Overcommit, Simulation
from .policy import SIM_POLICY
from .reference.detection import DETECTORS
from .reference.run import ReferenceResult, run_reference
from .traces import DayReference, day_references, load_day

DVFS = "DVFS only"
POLICIES = (*DETECTORS, DVFS)
PERCENT = 100.0
BOUNDS = {"energy": 5.0, "migrations": 15.0, "slatah": 25.0, "pdm": 25.0}


def _delta(ours: float, theirs: float) -> str:
    if theirs == 0:
        return "   —  " if ours == 0 else "  new "
    return f"{(ours - theirs) / theirs * PERCENT:+6.1f}%"


def _calibration_row(r: ReferenceResult, ref: DayReference | None) -> str:
    head = f"{r.day:<9} {r.policy:<12} {r.energy_kwh:>7.1f} {r.migrations:>6} {r.slatah * PERCENT:>6.2f} {r.pdm * PERCENT:>6.3f} {r.esv:>9.6f} {r.shutdowns:>5} {r.completed_vms:>4}"
    if ref is None:
        return head + "  (no CloudSim figure)"
    return (
        f"{head} | {ref.energy_kwh:>7.1f} {ref.migrations:>6} {ref.slatah_pct:>5.2f} {ref.pdm_pct:>5.2f} "
        f"{ref.esv:>9.6f} {ref.shutdowns:>5} | {_delta(r.energy_kwh, ref.energy_kwh)} "
        f"{_delta(r.migrations, ref.migrations)} {_delta(r.slatah * PERCENT, ref.slatah_pct)} "
        f"{_delta(r.pdm * PERCENT, ref.pdm_pct)}"
    )


CALIBRATION_HEADER = (
    f"{'day':<9} {'policy':<12} {'kWh':>7} {'migr':>6} {'SLATAH':>6} {'PDM%':>6} {'ESV':>9} {'shut':>5} {'gone':>4} | "
    f"{'CloudSim':>7} {'migr':>6} {'SLATAH':>5} {'PDM%':>5} {'ESV':>9} {'shut':>5} | "
    f"{'energy':>7} {'migr':>7} {'SLATAH':>7} {'PDM':>7}"
)


def calibrate(data: Path, days: list[str], hosts: int, out=sys.stdout) -> None:
    refs = day_references(data)
    print("reference policies through our engine (left) vs CloudSim 3.0.3 (middle), differences (right);", file=out)
    print("gone: VMs CloudSim's completed-VM rule removed during the day (reference/run.py)", file=out)
    print(CALIBRATION_HEADER, file=out, flush=True)
    ours: list[tuple[DayResult, dict[str, ReferenceResult]]] = []
    for day in days:
        traces = load_day(data, day)
        runs: dict[str, ReferenceResult] = {}
        for policy in POLICIES:
            started = time.perf_counter()
            runs[policy] = run_reference(day, traces, hosts, policy)
            print(
                _calibration_row(runs[policy], refs.get((day, policy))) + f"  [{time.perf_counter() - started:.0f} s]",
                file=out,
                flush=True,
            )
        started = time.perf_counter()
        result = Simulation(day, traces, hosts, SIM_POLICY, Overcommit.CLOUDSIM).run()
        print(f"{day:<9} {'Nubes':<12} {_ours(result)}  [{time.perf_counter() - started:.0f} s]", file=out, flush=True)
        ours.append((result, runs))
    print("\nour policy on the calibrated engine; energy of each reference: on our engine / CloudSim's", file=out)
    names = [p for p in POLICIES if p != DVFS]
    print(
        f"{'day':<9} {'kWh':>6} {'migr':>5} {'SLATAH%':>7} {'PDM%':>7} {'ESV':>9} {'off':>4} {'wake':>4} "
        + " ".join(f"{n.split()[0]:>13}" for n in names)
        + f" {'best-ESV ref':>12}",
        file=out,
    )
    for r, runs in ours:
        cells = []
        for name in names:
            ref = refs.get((r.day, name))
            cells.append(f"{runs[name].energy_kwh:>6.1f}/{ref.energy_kwh if ref else float('nan'):>6.1f}")
        best = min((refs[(r.day, n)] for n in names if (r.day, n) in refs), key=lambda x: x.esv, default=None)
        best_cell = f"{best.policy.split()[0]} {best.esv:.6f}" if best else "—"
        print(f"{r.day:<9} {_ours(r)} " + " ".join(f"{c:>13}" for c in cells) + f" {best_cell:>12}", file=out)


def _ours(r: DayResult) -> str:
    return (
        f"{r.energy_kwh:>6.1f} {r.migrations:>5} {r.slatah * PERCENT:>7.3f} {r.pdm * PERCENT:>7.4f} "
        f"{r.esv:>9.7f} {r.standby_actions:>4} {r.wake_actions:>4}"
    )


def goal_lines(
    results: list[DayResult], refs: dict[tuple[str, str], DayReference], budget_share: int
) -> tuple[list[str], int]:
    """Per day: energy below every consolidating reference's, ESV below the best (lowest
    ESV) reference's, migrations at most 1/`budget_share` of that policy's. Returns the
    lines and the number of days meeting all three."""
    lines, ok_days = [], 0
    for r in results:
        day_refs = [ref for (day, name), ref in refs.items() if day == r.day and ref.migrations > 0]
        if not day_refs:
            lines.append(f"  {r.day}: no CloudSim figures")
            continue
        best = min(day_refs, key=lambda ref: ref.esv)
        lowest = min(day_refs, key=lambda ref: ref.energy_kwh)
        budget = best.migrations // budget_share
        energy_ok = r.energy_kwh < lowest.energy_kwh
        esv_ok = r.esv < best.esv
        migrations_ok = r.migrations <= budget
        ok_days += energy_ok and esv_ok and migrations_ok
        lines.append(
            f"  {r.day}: energy {r.energy_kwh:.1f} {'<' if energy_ok else '>='} {lowest.energy_kwh} kWh "
            f"({lowest.policy}); ESV {r.esv:.7f} {'<' if esv_ok else '>='} {best.esv:.7f} ({best.policy}, "
            f"{r.esv / best.esv:.1%}); migrations {r.migrations:,} {'<=' if migrations_ok else '>'} {budget:,} "
            f"({r.migrations / best.migrations:.1%} of {best.policy}'s)"
        )
    return lines, ok_days
