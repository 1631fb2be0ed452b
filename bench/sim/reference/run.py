"""A day of a reference policy through our engine: CloudSim's set-up, its accounting (the
shared Ledger), its timing (decide at each 300 s instant on the current utilisation; a
VM's history gets the current sample first: PowerVm.updateVmProcessing reads it after its
cloudlet scheduler has moved to the instant).

CloudSim 3.0.3's clock and VM life, as its power examples run (`cloudsim=True`):
- The broker submits at 0.1 s, so every update is at 300 k + 0.1 s and reads each trace
  interpolated there (UtilizationModelPlanetLabInMemory): a VM idle at sample k but not at
  k + 1 asks a sliver, and keeps its host drawing.
- The first update is at 300.1 s with every host's previous utilisation 0 (no energy before
  it), and the simulation ends at 86,400 s, before the update at 86,400.1: the day's energy,
  SLATAH and PDM cover the frames from 300.1 to 86,100.1 s.
- After each update PowerDatacenter removes "completed" VMs: any VM not migrating whose
  requested MIPS is 0 (HostDynamicWorkload.getCompletedVms) is deallocated and leaves the
  datacenter for the rest of the day. A PlanetLab VM idle for two samples in a row is gone.
  This is what puts CloudSim's energy (and migrations) far below a run that keeps every VM:
  on 20110303 the DVFS-only run holds 1,052 VMs at the start and 520 at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .. import cloudsim as cs
from ..accounting import Ledger, Migration, SlaFigures
from .detection import DETECTORS, HISTORY_LENGTH
from .policy import Round, optimise

MS = 1000.0
JOULES_PER_KWH = 3.6e6
SUBMIT_DELAY_S = 0.1  # the broker's cloudlets arrive 0.1 s in: updates at 300 k + 0.1 s


@dataclass
class ReferenceResult(SlaFigures):
    day: str
    policy: str
    energy_kwh: float
    migrations: int
    slatah: float
    pdm: float
    shutdowns: int
    decision_ms_mean: float
    decision_ms_max: float
    completed_vms: int = 0  # removed by CloudSim's completed-VM rule (0 without it)


def _at_updates(trace: list[int], offset_s: float) -> list[float]:
    """The trace's utilisation at each update instant 300 k + offset_s, interpolated as
    UtilizationModelPlanetLabInMemory does (the sample after the last repeats it)."""
    u = [pct / 100.0 for pct in trace]
    u.append(u[-1])
    share = offset_s / cs.STEP_S
    return [u[k] + (u[k + 1] - u[k]) * share for k in range(len(trace))]


def run_reference(
    day: str,
    traces: list[list[int]],
    host_count: int,
    policy: str,
    progress: Callable[[str], None] | None = None,
    cloudsim: bool = True,
) -> ReferenceResult:
    """`cloudsim`: CloudSim's clock and completed-VM removal (module docstring); without it
    every VM runs all day, sampled on the 300 s marks, and every frame is counted."""
    detector = DETECTORS.get(policy)  # None: DVFS only (PowerVmAllocationPolicySimple)
    hosts = cs.make_hosts(host_count)
    total = [h.capacity_mhz for h in hosts]
    core = [h.mhz for h in hosts]
    curves = [h.power_curve for h in hosts]
    n = len(traces)
    types = [cs.vm_type(i, n) for i in range(n)]
    mips = [cs.VM_MIPS[t] for t in types]
    ram = [cs.VM_RAM_MB[t] for t in types]
    util = [_at_updates(tr, SUBMIT_DELAY_S if cloudsim else 0.0) for tr in traces]
    steps = len(traces[0])
    where: list[int | None] = [None] * n
    host_vms: list[list[int]] = [[] for _ in hosts]
    if detector is None:
        _first_fit(total, core, mips, ram, where, host_vms)
    else:
        _create(Round(total, core, curves, mips, ram, mips, [()] * n, host_vms, detector), ram, where)
    ledger = Ledger(total, core, curves)
    migrations_total = 0
    timings: list[float] = []
    completed = 0
    for k in range(steps):
        demand = [util[v][k] * mips[v] for v in range(n)]
        demand_next = [util[v][min(k + 1, steps - 1)] * mips[v] for v in range(n)]
        if cloudsim and k > 0:
            completed += _remove_completed(where, host_vms, demand)
        migrations: list[Migration] = []
        if k > 0 and detector is not None:  # CloudSim's first optimisation is one interval after the start
            history = [util[v][max(k + 1 - HISTORY_LENGTH, 0) : k + 1][::-1] for v in range(n)]
            started = time.perf_counter()
            r = Round(total, core, curves, mips, ram, demand, history, [list(vs) for vs in host_vms], detector)
            moves = optimise(r)
            timings.append((time.perf_counter() - started) * MS)
            for v, target in moves:
                source = where[v]
                if source is None or source == target:
                    continue
                host_vms[source].remove(v)
                host_vms[target].append(v)
                where[v] = target
                migrations.append(Migration(v, source, target, cs.migration_time_s(ram[v])))
            migrations_total += len(migrations)
        if not cloudsim or 0 < k < steps - 1:  # CloudSim's frames: 300.1 s to 86,100.1 s
            ledger.step(where, migrations, demand, demand_next)
        if progress is not None and (k + 1) % 12 == 0:
            used = sum(1 for vs in host_vms if vs)
            progress(
                f"{day} {policy}: {(k + 1) * cs.STEP_S / 3600:.0f} h, {migrations_total} migrations, {used} hosts used"
            )
    return ReferenceResult(
        day,
        policy,
        ledger.energy_j / JOULES_PER_KWH,
        migrations_total,
        ledger.slatah,
        ledger.pdm,
        ledger.shutdowns,
        sum(timings) / len(timings) if timings else 0.0,
        max(timings, default=0.0),
        completed,
    )


def _create(creation: Round, ram: list[int], where: list[int | None]) -> None:
    """VM creation under a migration policy: each VM in turn, placed as findHostForVm places
    it. The new VM asks for all its MIPS, its RAM and its bandwidth (a tenth of the host's);
    a VM created before it keeps its full allocation (free MIPS, and the power-aware fit's
    utilisation count it) but already asks 0 MIPS (Datacenter.processVmCreate ends its
    instantiation; it has no cloudlet yet), so the over-utilisation check sees the new VM alone."""
    free_ram = [float(cs.HOST_RAM_MB)] * len(creation.total)
    free_bw = [cs.HOST_BANDWIDTH_MBIT_S] * len(creation.total)
    for v in range(len(ram)):
        fits = [h for h in range(len(free_ram)) if free_ram[h] >= ram[v] and free_bw[h] >= cs.VM_BANDWIDTH_MBIT_S]
        h = creation.find_host(v, set(), fits)
        if h is None:
            continue
        creation.host_vms[h].append(v)
        creation.allocated[h] += min(creation.demand[v], creation.core[h])
        free_ram[h] -= ram[v]
        free_bw[h] -= cs.VM_BANDWIDTH_MBIT_S
        where[v] = h


def _remove_completed(where: list[int | None], host_vms: list[list[int]], demand: list[float]) -> int:
    """PowerDatacenter's "Remove completed VMs": each VM asking 0 MIPS at the update leaves
    (no VM is migrating at an update: every migration ends within its step)."""
    removed = 0
    for v, h in enumerate(where):
        if h is not None and demand[v] == 0:
            host_vms[h].remove(v)
            where[v] = None
            removed += 1
    return removed


def _first_fit(
    total: list[float],
    core: list[float],
    mips: list[float],
    ram: list[int],
    where: list[int | None],
    host_vms: list[list[int]],
) -> None:
    """PowerVmAllocationPolicySimple: the first host a VM fits at creation, when it asks
    for all its MIPS, its RAM and its bandwidth (a tenth of the host's)."""
    free_mips = list(total)
    free_ram = [float(cs.HOST_RAM_MB)] * len(total)
    free_bw = [cs.HOST_BANDWIDTH_MBIT_S] * len(total)
    for v in range(len(mips)):
        for h in range(len(total)):
            if (
                core[h] >= mips[v]
                and free_mips[h] >= mips[v]
                and free_ram[h] >= ram[v]
                and free_bw[h] >= cs.VM_BANDWIDTH_MBIT_S
            ):
                free_mips[h] -= mips[v]
                free_ram[h] -= ram[v]
                free_bw[h] -= cs.VM_BANDWIDTH_MBIT_S
                where[v] = h
                host_vms[h].append(v)
                break
