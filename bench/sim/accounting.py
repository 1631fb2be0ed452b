"""The day's metrics as CloudSim 3.0.3 defines them (org.cloudbus.cloudsim.power, Helper).

One 300 s step at a time, after the step's decisions. The demand is the step's sample (the
decisions saw it too: CloudSim decides on the utilisation at the scheduling instant). The
migrations decided at its start run at once, each for RAM / (half of 1 Gbit/s); CloudSim
records host and VM states at the step's start (before the moves) and at each migration's
end, so the step falls into frames between those instants, each with the state recorded at
its start.

- Energy: per host and frame, the mean of the power at the frame's start and end utilisation,
  times its length; a frame counts only if the host was drawing at its start. CloudSim
  counts a host as drawing while its CPU utilisation is above zero (a host whose VMs are all
  idle draws nothing); our policy's hosts draw whenever they are not in standby (`powered`).
- SLATAH: time with allocated MIPS below requested over time active (utilisation above zero),
  summed over all hosts before dividing. A host is below while it is oversubscribed, while
  one of its VMs asks more than a core gives, and while a VM migrating in is recorded on it
  (the target gives it a tenth of its request).
- PDM: MIPS a VM did not get while migrating out (it gets 90 % of its
  allocation), over all MIPS requested, summed over all VMs before dividing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import cloudsim as cs

MIGRATING_OUT_SHARE = 0.9
MIGRATING_IN_SHARE = 0.1


class SlaFigures:
    """SLAV and ESV of a result with `energy_kwh`, `slatah` and `pdm` (Beloglazov & Buyya)."""

    energy_kwh: float
    slatah: float
    pdm: float

    @property
    def slav(self) -> float:
        return self.slatah * self.pdm

    @property
    def esv(self) -> float:
        return self.energy_kwh * self.slav


@dataclass(frozen=True, slots=True)
class Migration:
    vm: int
    source: int
    target: int
    seconds: float


@dataclass
class Ledger:
    host_mips: list[float]  # total per host
    core_mips: list[float]
    curves: list  # PowerCurve per host
    energy_j: float = 0.0
    violation_s: float = 0.0
    active_s: float = 0.0
    underallocated: float = 0.0  # MIPS x s lost to migration
    requested: float = 0.0  # MIPS x s requested
    shutdowns: int = 0  # a host going from drawing to not drawing (CloudSim's count)
    _was_drawing: list[bool] = field(default_factory=list)

    @property
    def slatah(self) -> float:
        return self.violation_s / self.active_s if self.active_s else 0.0

    @property
    def pdm(self) -> float:
        return self.underallocated / self.requested if self.requested else 0.0

    def _capped(self, demand: float, host: int) -> float:
        core = self.core_mips[host]
        return demand if demand < core else core

    def _loads(self, where: list[int | None], demand: list[float]) -> tuple[list[float], list[bool]]:
        """Per host: MIPS requested, each VM capped at a core; whether a VM asks more."""
        n = len(self.host_mips)
        capped, over_core = [0.0] * n, [False] * n
        core = self.core_mips
        for v, h in enumerate(where):
            if h is None:
                continue
            d = demand[v]
            if d > core[h]:
                over_core[h] = True
                d = core[h]
            capped[h] += d
        return capped, over_core

    def step(
        self,
        after: list[int | None],
        migrations: list[Migration],
        demand: list[float],
        demand_next: list[float],
        powered: list[bool] | None = None,
    ) -> None:
        """Account one step. `after`: each VM's host index once the step's migrations are
        done; `powered`: hosts drawing whatever their load (None: CloudSim's rule)."""
        period = float(cs.STEP_S)
        cap_after, over_after = self._loads(after, demand)
        cap_next, _ = self._loads(after, demand_next)
        ends = sorted({m.seconds for m in migrations if m.seconds < period})
        instants = [0.0, *ends, period]
        touched: dict[int, list[Migration]] = {}
        for m in migrations:
            self._charge_migration(m, demand, cap_after)
            touched.setdefault(m.source, []).append(m)
            touched.setdefault(m.target, []).append(m)
        self.requested += sum(d for v, d in enumerate(demand) if after[v] is not None) * period
        if not self._was_drawing:
            # Helper.getTimesBeforeHostShutdown starts every host as active: one never used
            # counts a shutdown at its first record.
            self._was_drawing = [True] * len(self.host_mips)
        for h, total in enumerate(self.host_mips):
            moving = touched.get(h)
            if moving is None:
                states = [(cap_after[h], cap_after[h] > total or over_after[h]), (cap_next[h], False)]
                self._frames(h, (0.0, period), states, powered)
                continue
            states = [self._during(h, at, moving, demand, cap_after[h], over_after[h]) for at in instants[:-1]]
            states.append((cap_next[h], False))
            self._frames(h, instants, states, powered)

    def _charge_migration(self, m: Migration, demand: list[float], cap_after: list[float]) -> None:
        """What the VM does not get while it migrates out: a tenth of its allocation (and
        what its source could not give it anyway), for the whole migration."""
        source = m.source
        total = self.host_mips[source]
        load = cap_after[source] + self._capped(demand[m.vm], source)
        scale = min(total / load, 1.0) if load > 0 else 1.0
        allocated = self._capped(demand[m.vm], source) * scale * MIGRATING_OUT_SHARE
        self.underallocated += (demand[m.vm] - allocated) * m.seconds

    def _during(
        self, h: int, at: float, moving: list[Migration], demand: list[float], load: float, over_core: bool
    ) -> tuple[float, bool]:
        """(capped MIPS, allocated below requested) recorded at `at` seconds into the step:
        a VM still arriving counts a tenth here (and its host is below its request), one
        still leaving counts in full."""
        incoming = False
        for m in moving:
            if m.seconds <= at:
                continue
            c = self._capped(demand[m.vm], h)
            if m.target == h:
                load -= c - MIGRATING_IN_SHARE * c
                incoming = True
            if m.source == h:
                load += c
                over_core = over_core or demand[m.vm] > self.core_mips[h]
        return load, incoming or load > self.host_mips[h] or over_core

    def _frames(
        self,
        h: int,
        instants: list[float] | tuple[float, ...],
        states: list[tuple[float, bool]],
        powered: list[bool] | None,
    ) -> None:
        total = self.host_mips[h]
        curve = self.curves[h]
        for k in range(len(instants) - 1):
            seconds = instants[k + 1] - instants[k]
            load, violated = states[k]
            u_from = min(load, total) / total
            u_to = min(states[k + 1][0], total) / total
            on = u_from > 0 if powered is None else powered[h]
            if on:
                self.energy_j += (curve.power(u_from) + curve.power(u_to)) / 2 * seconds
            if u_from > 0:
                self.active_s += seconds
                if violated:
                    self.violation_s += seconds
        drawing = (states[-1][0] > 0) if powered is None else powered[h]
        if self._was_drawing[h] and not drawing:
            self.shutdowns += 1
        self._was_drawing[h] = drawing
