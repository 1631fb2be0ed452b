"""Replays one day of traces through the production DRS and DPM functions.

Each 300 s step, as in CloudSim: the scheduler sees the demand history up to the step's own
sample (CloudSim's policies decide on the utilisation at the scheduling instant),
`drs.recommend` and `dpm.plan` run on one working index, their moves and power actions are
applied, and the step is accounted by CloudSim's definitions (accounting.Ledger). A host
woken by DPM is up from the next step and draws idle power meanwhile (the boot); a host in
standby draws nothing; a host that is up draws even when empty (CloudSim's hosts draw only
while busy: stricter for us). A host woken within the hold (production's
NUBES_DPM_WAKE_HOLD) is passed to DPM as held on. Every VM runs all day: CloudSim's rule that
removes a VM idle at an update (reference/run.py) is not applied to us (stricter again: on
20110303 it takes 532 of the 1,052 VMs out of CloudSim's runs).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from scheduler.core import dpm, drs
from scheduler.core.model import (
    ClusterPolicy,
    HostPowerState,
    HostState,
    InstanceState,
    MigrationRecord,
    PlacementStrategy,
    PowerActionKind,
    Snapshot,
)
from scheduler.core.placement import PlacementRequest, place
from scheduler.core.state import ClusterIndex

from . import cloudsim as cs
from .accounting import Ledger, Migration, SlaFigures

JOULES_PER_KWH = 3.6e6
DEFAULT_WAKE_HOLD_S = 1200.0  # production's NUBES_DPM_WAKE_HOLD default
MS = 1000.0


class Overcommit(enum.StrEnum):
    """CLOUDSIM: as the reference behaves — its planetlab VMs request no RAM after creation
    (UtilizationModelNull) and its time-shared scheduler has no vCPU limit, so only CPU
    demand binds. DEFAULT: the production policy's 4.0 vCPU and 1.0 RAM ratios."""

    CLOUDSIM = "cloudsim"
    DEFAULT = "default"


UNBOUNDED_RATIO = 1000.0


@dataclass
class DayResult(SlaFigures):
    day: str
    vms: int
    hosts: int
    energy_kwh: float
    slatah: float
    pdm: float
    migrations: int
    standby_actions: int
    wake_actions: int
    mean_active_hosts: float
    max_active_hosts: int
    decision_ms_mean: float
    decision_ms_max: float
    unplaced: int = 0
    notes: list[str] = field(default_factory=list)


def policy_for(policy: ClusterPolicy, overcommit: Overcommit) -> ClusterPolicy:
    if overcommit is Overcommit.CLOUDSIM:
        return replace(
            policy,
            cpu_overcommit=UNBOUNDED_RATIO,
            ram_overcommit=UNBOUNDED_RATIO,
            migration_bandwidth_mb_s=cs.MIGRATION_BANDWIDTH_MB_S,
        )
    return replace(policy, migration_bandwidth_mb_s=cs.MIGRATION_BANDWIDTH_MB_S)


class Simulation:
    def __init__(
        self,
        day: str,
        traces: list[list[int]],
        host_count: int,
        policy: ClusterPolicy,
        overcommit: Overcommit,
        manage: bool = True,
        wake_hold_s: float = DEFAULT_WAKE_HOLD_S,
    ) -> None:
        self.day = day
        self.wake_hold_s = wake_hold_s
        self.woken_at: dict[str, float] = {}
        self.policy = policy_for(policy, overcommit)
        self.overcommit = overcommit
        self.manage = manage
        self.hosts = cs.make_hosts(host_count)
        self.host_by_id = {h.id: h for h in self.hosts}
        self.state = {h.id: HostPowerState.UP for h in self.hosts}
        n = len(traces)
        self.vm_ids = [f"vm-{i:04d}" for i in range(n)]
        types = [cs.vm_type(i, n) for i in range(n)]
        self.mips = [cs.VM_MIPS[t] for t in types]
        self.ram = [cs.VM_RAM_MB[t] for t in types]
        self.demand = [[pct / 100.0 * self.mips[i] for pct in tr] for i, tr in enumerate(traces)]
        self.where: list[str | None] = [None] * n
        self.recent: list[MigrationRecord] = []
        # every decision, in order: (step, "migrate", vm, source, target) or (step, action, host)
        self.log: list[tuple[object, ...]] = []
        self.active_memory = 0.0 if overcommit is Overcommit.CLOUDSIM else None

    # --- the scheduler's view ---------------------------------------------------------------

    def snapshot(self, step: int) -> Snapshot:
        window = max(self.policy.demand_window, self.policy.dpm_standby_window)
        start = max(step - window, 0)
        hosts = tuple(
            h if self.state[h.id] is HostPowerState.UP else _with_state(h, self.state[h.id]) for h in self.hosts
        )
        instances = tuple(
            InstanceState(
                id=vid,
                host=self.where[i],
                vcpus=1,
                memory_mb=self.ram[i],
                cpu_demand_mhz=tuple(self.demand[i][start : step + 1]),
                active_memory_mb=self.active_memory,
            )
            for i, vid in enumerate(self.vm_ids)
        )
        horizon = step * cs.STEP_S - self.policy.drs_hysteresis_s
        self.recent = [m for m in self.recent if m.finished_at > horizon]
        return Snapshot(hosts, instances, recent_migrations=tuple(self.recent), now=step * cs.STEP_S)

    def initial_placement(self) -> int:
        """Best fit decreasing on the first sample, through placement (PACK), onto the
        most power-efficient hosts first (as DPM wakes them, and as CloudSim's power-aware
        best fit picks the host whose power rises least)."""
        snap = self.snapshot(0)
        index = ClusterIndex(snap, self.policy)
        strategy = PlacementStrategy.PACK if self.manage else PlacementStrategy.SPREAD
        cap = self.policy.dpm_target_high if self.manage else 1.0
        best = max(_mhz_per_peak_watt(h) for h in self.hosts)
        efficient = frozenset(h.id for h in self.hosts if _mhz_per_peak_watt(h) == best)
        unplaced = 0
        order = sorted(range(len(self.vm_ids)), key=lambda i: -self.demand[i][0])
        for i in order:
            inst = index.instances[self.vm_ids[i]]
            result = place(
                PlacementRequest(
                    inst, strategy=strategy, max_cpu_load=cap, candidate_hosts=efficient if self.manage else None
                ),
                snap,
                self.policy,
                index,
            )
            if not result.ok:
                result = place(PlacementRequest(inst, strategy=strategy, max_cpu_load=cap), snap, self.policy, index)
            if not result.ok:
                result = place(PlacementRequest(inst, strategy=strategy), snap, self.policy, index)
            if not result.ok:
                unplaced += 1
                continue
            index.move(inst.id, result.host_id)
            self.where[i] = result.host_id
        if self.manage:
            used = {h for h in self.where if h is not None}
            for h in self.hosts:
                if h.id not in used:
                    self.state[h.id] = HostPowerState.STANDBY
        return unplaced

    def decide(self, step: int) -> tuple[list[tuple[int, str]], int, int, float]:
        """Run DRS then DPM; apply. Returns (migrations as (vm, source), standby, wakes, ms)."""
        for hid, st in self.state.items():
            if st is HostPowerState.WAKING:
                self.state[hid] = HostPowerState.UP
        snap = self.snapshot(step)
        # CPU time, not wall time: the machine is shared, and a decision's cost is its CPU
        started = time.process_time()
        now = step * cs.STEP_S
        held = frozenset(h for h, at in self.woken_at.items() if now - at < self.wake_hold_s)
        index = ClusterIndex(snap, self.policy)
        balance = drs.recommend(snap, self.policy, index)
        power = dpm.plan(snap, self.policy, index, held=held)
        elapsed = (time.process_time() - started) * MS
        migrations = []
        position = {vid: i for i, vid in enumerate(self.vm_ids)}
        for move in balance.moves + power.moves:
            i = position[move.instance_id]
            source = self.where[i]
            if source == move.target_host or source is None:
                continue
            migrations.append((i, source))
            self.log.append((step, "migrate", move.instance_id, source, move.target_host))
            self.where[i] = move.target_host
            self.recent.append(
                MigrationRecord(
                    move.instance_id, source, move.target_host, step * cs.STEP_S + cs.migration_time_s(self.ram[i])
                )
            )
        standby = wakes = 0
        for action in power.power_actions:
            self.log.append((step, str(action.action), action.host_id))
            if action.action is PowerActionKind.STANDBY:
                self.state[action.host_id] = HostPowerState.STANDBY
                standby += 1
            else:
                self.state[action.host_id] = HostPowerState.WAKING
                self.woken_at[action.host_id] = now
                wakes += 1
        return migrations, standby, wakes, elapsed

    # --- the run --------------------------------------------------------------------------------

    def run(self, progress: Callable[[str], None] | None = None) -> DayResult:
        steps = len(self.demand[0]) if self.demand else 0
        unplaced = self.initial_placement()
        index_of = {h.id: k for k, h in enumerate(self.hosts)}
        ledger = Ledger(
            [h.capacity_mhz for h in self.hosts], [h.mhz for h in self.hosts], [h.power_curve for h in self.hosts]
        )
        total_migrations = standby_total = wake_total = 0
        decision_ms: list[float] = []
        active_counts = []
        for step in range(steps):
            migrations: list[tuple[int, str]] = []
            if self.manage and step > 0:
                migrations, standby, wakes, ms = self.decide(step)
                total_migrations += len(migrations)
                standby_total += standby
                wake_total += wakes
                decision_ms.append(ms)
            after = [None if h is None else index_of[h] for h in self.where]
            moves = [
                Migration(i, index_of[source], after[i], cs.migration_time_s(self.ram[i])) for i, source in migrations
            ]
            demand = [d[step] for d in self.demand]
            demand_next = [d[min(step + 1, steps - 1)] for d in self.demand]
            powered = [self.state[h.id] is not HostPowerState.STANDBY for h in self.hosts]
            ledger.step(after, moves, demand, demand_next, powered)
            active_counts.append(sum(powered))
            if progress and (step + 1) % 24 == 0:
                progress(
                    f"{self.day}: {(step + 1) * cs.STEP_S / 3600:.0f} h, "
                    f"{total_migrations} migrations, {active_counts[-1]} hosts on"
                )
        return DayResult(
            day=self.day,
            vms=len(self.vm_ids),
            hosts=len(self.hosts),
            energy_kwh=ledger.energy_j / JOULES_PER_KWH,
            slatah=ledger.slatah,
            pdm=ledger.pdm,
            migrations=total_migrations,
            standby_actions=standby_total,
            wake_actions=wake_total,
            mean_active_hosts=sum(active_counts) / len(active_counts) if active_counts else 0,
            max_active_hosts=max(active_counts, default=0),
            decision_ms_mean=sum(decision_ms) / len(decision_ms) if decision_ms else 0.0,
            decision_ms_max=max(decision_ms, default=0.0),
            unplaced=unplaced,
        )


def _mhz_per_peak_watt(host: HostState) -> float:
    return host.capacity_mhz / host.power_curve.peak


def _with_state(host: HostState, state: HostPowerState) -> HostState:
    return replace(host, state=state)
