"""The simulator's CloudSim side: the reference policies' functions and CloudSim's metrics.

Figures worked by hand from CloudSim 3.0.3's definitions (org.cloudbus.cloudsim.power,
util.MathUtil, examples' Helper).
"""

import pytest

from bench.sim import cloudsim as cs
from bench.sim.accounting import Ledger, Migration
from bench.sim.reference import detection
from bench.sim.reference import run as reference_run
from bench.sim.reference.policy import Round, optimise

G4, G5 = cs.HOST_POWER


def test_iqr_uses_rounded_ranks_of_the_padded_history():
    history = [0.5] * 10 + [0.9] * 5 + [0.1] * 15  # 30 values, newest first
    # sorted: fifteen 0.1, ten 0.5, five 0.9; ranks round(7.75)-1 = 7 and round(23.25)-1 = 22
    assert detection.iqr(history) == pytest.approx(0.5 - 0.1)
    assert detection.iqr_over(0.45, history) is True  # threshold 1 - 1.5 * 0.4 = 0.4
    assert detection.iqr_over(0.35, history) is False


def test_iqr_and_mad_fall_back_to_thr_07_on_short_histories():
    short = [0.5] * 11 + [0.0] * 19
    assert detection.count_nonzero_beginning(short) == 11
    assert detection.iqr_over(0.71, short) is True  # THR 0.7, not 1 - 1.5 * IQR
    assert detection.mad_over(0.69, short) is False


def test_mad_is_the_median_of_absolute_deviations():
    history = [0.2, 0.4, 0.6, 0.8] * 7 + [0.5, 0.5]
    # median 0.5; deviations: two 0, fourteen 0.1, fourteen 0.3: their median 0.1
    assert detection.mad(history) == pytest.approx(0.1)
    assert detection.mad_over(0.76, history) is True  # 1 - 2.5 * 0.1 = 0.75
    assert detection.mad_over(0.74, history) is False


def test_lr_extrapolates_a_least_squares_line_one_interval_ahead():
    rising = [0.9 - 0.05 * i for i in range(30)]  # newest first: 0.9, 0.85, ...
    # the last ten, oldest first, lie on 0.45 + 0.05 x (x = 1..10): at x = 11, 1.0; x 1.2 >= 1
    assert detection.lr_over(0.0, rising) is True
    flat = [0.7] * 30
    assert detection.lr_over(1.0, flat) is False  # 0.7 * 1.2 < 1: the current value plays no part


def _round(demand, host_vms, detector=detection.thr, ram=None):
    n = len(host_vms)
    hosts = cs.make_hosts(n)
    vms = len(demand)
    return Round(
        total=[h.capacity_mhz for h in hosts],
        core=[h.mhz for h in hosts],
        curves=[h.power_curve for h in hosts],
        vm_mips=[2500.0] * vms,
        vm_ram=ram or [870] * vms,
        demand=demand,
        history=[[d / 2500.0] * 30 for d in demand],
        host_vms=[list(v) for v in host_vms],
        detector=detector,
    )


def test_an_overloaded_host_sheds_its_smallest_vm_and_the_least_used_host_is_emptied():
    # host 1 (G5, 5320 MIPS) at 4500 MIPS is over 0.8: its 613 MB VM leaves, to the host
    # whose power rises least — the empty G5 (host 3), as CloudSim's PABFD counts an empty
    # host from its idle power. Then the least used active host (2, a G4 at 300 MIPS) is
    # emptied onto the other active one (0); host 3 was off at the instant: not a target.
    r = _round([2000, 2000, 500, 300, 1000], [[4], [0, 1, 2], [3], []], ram=[870, 870, 613, 870, 870])

    assert optimise(r) == [(2, 3), (3, 0)]
    assert r.requested[1] == 4000  # 4000 / 5320 <= 0.8: one VM was enough


def test_a_migration_charges_its_target_as_violating_and_its_vm_a_tenth_for_its_whole_time():
    hosts = cs.make_hosts(2)
    ledger = Ledger([h.capacity_mhz for h in hosts], [h.mhz for h in hosts], [h.power_curve for h in hosts])
    seconds = cs.migration_time_s(870)
    ledger.step([1, 1], [Migration(0, 0, 1, seconds)], [1000.0, 1000.0], [1000.0, 1000.0])

    assert ledger.violation_s == pytest.approx(seconds)  # only the target, only while it arrives
    assert ledger.active_s == pytest.approx(seconds + cs.STEP_S)  # the source until it leaves
    assert ledger.underallocated == pytest.approx(0.1 * 1000.0 * seconds)
    assert ledger.requested == pytest.approx(2000.0 * cs.STEP_S)


def test_a_host_draws_only_while_busy_by_cloudsims_rule_and_while_powered_by_ours():
    hosts = cs.make_hosts(2)
    cloudsim = Ledger([h.capacity_mhz for h in hosts], [h.mhz for h in hosts], [h.power_curve for h in hosts])
    ours = Ledger([h.capacity_mhz for h in hosts], [h.mhz for h in hosts], [h.power_curve for h in hosts])
    where, idle = [1], [0.0]  # one idle VM on host 1; host 0 empty

    cloudsim.step(where, [], idle, idle)
    ours.step(where, [], idle, idle, powered=[False, True])

    assert cloudsim.energy_j == 0.0
    assert ours.energy_j == pytest.approx(G5.idle * cs.STEP_S)


def test_updates_read_each_trace_interpolated_at_300k_plus_a_tenth_of_a_second():
    # UtilizationModelPlanetLabInMemory between samples; the broker's 0.1 s submit delay.
    at = reference_run._at_updates([0, 0, 30, 60], reference_run.SUBMIT_DELAY_S)

    assert at[:2] == [0.0, pytest.approx(0.3 * 0.1 / cs.STEP_S)]  # idle at 300.1 s, a sliver at 600.1 s
    assert at[3] == 0.6  # the sample after the last repeats it
    assert reference_run._at_updates([0, 30], 0.0) == [0.0, 0.3]


def test_cloudsims_completed_vm_rule_removes_a_vm_idle_at_an_update_for_the_rest_of_the_day():
    # Two VMs (2500 and 2000 MIPS) first-fit onto host 1, the first G5. VM 0 asks 0 MIPS at the
    # update at 300.1 s (idle at samples 1 and 2): CloudSim deallocates it there for good, and
    # counts energy for the frames from 300.1 s to the last update before the end (here
    # 1200.1 s). Without the rule both VMs run and every frame counts.
    traces = [[50, 0, 0, 40, 40], [50, 50, 50, 50, 50]]
    power = G5.power(1000.0 / (2 * 2660.0))

    as_cloudsim = reference_run.run_reference("day", traces, 4, "DVFS only")
    keeping = reference_run.run_reference("day", traces, 4, "DVFS only", cloudsim=False)

    assert as_cloudsim.completed_vms == 1 and keeping.completed_vms == 0
    assert as_cloudsim.energy_kwh * reference_run.JOULES_PER_KWH == pytest.approx(3 * cs.STEP_S * power)
    assert keeping.energy_kwh > as_cloudsim.energy_kwh * 5 / 3
