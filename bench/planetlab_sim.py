"""Trace-driven simulation of DRS + DPM on the PlanetLab days (CloudSim reference set-up).

    .venv/bin/python bench/planetlab_sim.py                 # the five days, ~minutes
    .venv/bin/python bench/planetlab_sim.py --days 20110303 --hosts 200   # a quick look
    .venv/bin/python bench/planetlab_sim.py --calibrate [--days D]  # CloudSim's policies on our engine
    .venv/bin/python bench/planetlab_sim.py --equal-terms [--days D]  # theirs and ours, every VM kept

Prints, per day, energy, SLATAH, PDM, SLAV, ESV, migrations, hosts put in standby and the
scheduler's decision time per step, then the comparison with the best reference policy of
the data's README (lowest ESV) and the no-power-management baseline. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.sim import cloudsim  # noqa: E402
from bench.sim.calibrate import calibrate, goal_lines  # noqa: E402
from bench.sim.engine import DEFAULT_WAKE_HOLD_S, DayResult, Overcommit, Simulation  # noqa: E402
from bench.sim.equal_terms import equal_terms  # noqa: E402
from bench.sim.policy import SIM_POLICY  # noqa: E402
from bench.sim.traces import (  # noqa: E402
    available_days,
    best_reference,
    day_references,
    default_data_dir,
    load_day,
    reference_policies,
)
from scheduler.core.model import ClusterPolicy  # noqa: E402

REFERENCE_HOSTS = 800
MIGRATION_BUDGET_SHARE = 5  # the goal: at most a fifth of the reference's migrations
PERCENT = 100.0


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def simulate(args: tuple[Path, str, int, ClusterPolicy, Overcommit, bool, float]) -> DayResult:
    data, day, hosts, policy, overcommit, manage, hold = args
    traces = load_day(data, day)
    label = day if manage else f"{day} (no power management)"
    return Simulation(label, traces, hosts, policy, overcommit, manage, hold).run(_progress)


def _row(r: DayResult) -> str:
    return (
        f"{r.day:<10} {r.vms:>5} {r.energy_kwh:>8.1f} {r.slatah * PERCENT:>7.3f} "
        f"{r.pdm * PERCENT:>8.5f} {r.slav * PERCENT:>9.6f} {r.esv:>10.7f} "
        f"{r.migrations:>6} {r.standby_actions:>5} {r.wake_actions:>5} "
        f"{r.mean_active_hosts:>6.1f} {r.max_active_hosts:>4} "
        f"{r.decision_ms_mean:>7.1f} {r.decision_ms_max:>7.1f}"
    )


HEADER = (
    f"{'day':<10} {'VMs':>5} {'kWh':>8} {'SLATAH%':>7} {'PDM%':>8} {'SLAV%':>9} "
    f"{'ESV':>10} {'migr':>6} {'off':>5} {'wake':>5} {'on avg':>6} {'max':>4} "
    f"{'ms/step':>7} {'ms max':>7}"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--days", nargs="*", help="days to run (default: all)")
    parser.add_argument("--hosts", type=int, default=REFERENCE_HOSTS)
    parser.add_argument("--overcommit", type=Overcommit, default=Overcommit.CLOUDSIM, choices=list(Overcommit))
    parser.add_argument(
        "--calibrate", action="store_true", help="reference policies through our engine vs CloudSim, one day at a time"
    )
    parser.add_argument(
        "--equal-terms", action="store_true", help="reference policies and ours, every VM kept all day, same engine"
    )
    parser.add_argument("--jobs", type=int, default=2, help="days simulated in parallel")
    parser.add_argument("--no-baseline", action="store_true", help="skip the no-power-management baseline")
    parser.add_argument("--threshold", type=int, help="DRS migration threshold 1-5")
    parser.add_argument("--percentile", type=float, help="demand percentile")
    parser.add_argument("--window", type=int, help="demand window (samples)")
    parser.add_argument("--low", type=float, help="DPM target low")
    parser.add_argument("--high", type=float, help="DPM target high")
    parser.add_argument("--standby-window", type=int, help="DPM standby window (samples)")
    parser.add_argument("--standby-lookahead", type=int, help="DPM standby lookahead (samples)")
    parser.add_argument(
        "--hold", type=float, default=DEFAULT_WAKE_HOLD_S, help="seconds a woken host is held on (NUBES_DPM_WAKE_HOLD)"
    )
    args = parser.parse_args(argv)

    if args.calibrate:
        calibrate(args.data, args.days or available_days(args.data), args.hosts)
        return 0
    if args.equal_terms:
        equal_terms(args.data, args.days or available_days(args.data), args.hosts, args.jobs)
        return 0
    policy = SIM_POLICY
    overrides = {
        "drs_threshold": args.threshold,
        "demand_percentile": args.percentile,
        "demand_window": args.window,
        "dpm_target_low": args.low,
        "dpm_target_high": args.high,
        "dpm_standby_window": args.standby_window,
        "dpm_standby_lookahead": args.standby_lookahead,
    }
    policy = replace(policy, **{k: v for k, v in overrides.items() if v is not None})
    if args.high is not None:
        policy = replace(policy, drs_max_target_load=args.high)
    days = args.days or available_days(args.data)
    jobs = [(args.data, d, args.hosts, policy, args.overcommit, True, args.hold) for d in days]
    if not args.no_baseline:
        jobs += [(args.data, d, args.hosts, policy, args.overcommit, False, args.hold) for d in days]
    with ProcessPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        results = list(pool.map(simulate, jobs))
    managed = results[: len(days)]
    baseline = results[len(days) :]

    refs = reference_policies(args.data)
    best = best_reference(refs)
    budget = best.migrations // MIGRATION_BUDGET_SHARE
    print(
        f"PlanetLab, {args.hosts} hosts ({cloudsim.HOST_CPUS}-core HP G4/G5), "
        f"overcommit model: {args.overcommit}; policy: DPM {policy.dpm_target_low:.0%}-"
        f"{policy.dpm_target_high:.0%} (standby judged over {policy.dpm_standby_window} "
        f"samples and {policy.dpm_standby_lookahead} ahead, woken hosts held "
        f"{args.hold:g} s), DRS threshold {policy.drs_threshold}, demand "
        f"p{policy.demand_percentile:g} over {policy.demand_window} samples"
    )
    print(HEADER)
    for r in managed:
        print(_row(r))
    if baseline:
        print("\nno power management (all hosts on, spread placement, no migrations):")
        for r in baseline:
            print(f"  {r.day}: {r.energy_kwh:.1f} kWh, SLATAH {r.slatah * PERCENT:.3f} %")
        print("  README: 800 hosts always on at full power ~ 2,419 kWh")
    print("\nagainst CloudSim's figures for the same day (the data README's per-day table):")
    lines, ok_days = goal_lines(managed, day_references(args.data), MIGRATION_BUDGET_SHARE)
    for line in lines:
        print(line)
    print(
        f"goal met on {ok_days} of {len(managed)} days (median-day best reference: {best.name}, {budget:,} migrations)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
