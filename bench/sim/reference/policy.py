"""One round of CloudSim 3.0.3's PowerVmAllocationPolicyMigrationAbstract.optimizeAllocation:
over-utilised hosts shed VMs (minimum migration time: the least RAM first) placed by
power-aware best fit decreasing; then under-utilised hosts, the least utilised first, are
emptied onto the other active hosts, all of their VMs or none.

Hosts and VMs are indices; each host keeps CloudSim's VM list order (arrival order), on which
its ties depend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .detection import HISTORY_LENGTH, Detector


@dataclass
class Round:
    """The datacenter as the policy sees it at one scheduling instant."""

    total: Sequence[float]  # host MIPS
    core: Sequence[float]  # MIPS of one host core
    curves: Sequence  # PowerCurve per host
    vm_mips: Sequence[float]
    vm_ram: Sequence[float]
    demand: Sequence[float]  # each VM's requested MIPS now
    history: Sequence[Sequence[float]]  # each VM's past utilisation (share of its MIPS), newest first
    host_vms: list[list[int]]  # VM list per host, CloudSim's order; changed by the round
    detector: Detector

    def __post_init__(self) -> None:
        n = len(self.total)
        self.requested = [0.0] * n  # uncapped, for the detectors
        self.allocated = [0.0] * n  # capped at a core, for the utilisation and free MIPS
        self.hist = [[0.0] * HISTORY_LENGTH for _ in range(n)]
        for h, vms in enumerate(self.host_vms):
            for v in vms:
                self._count(v, h, 1)
        # getUtilizationOfCpu() and getPower() keep their values from the instant's update
        self.utilisation0 = [min(a, t) / t for a, t in zip(self.allocated, self.total, strict=True)]

    def _count(self, v: int, h: int, sign: int) -> None:
        d = self.demand[v]
        self.requested[h] += sign * d
        self.allocated[h] += sign * min(d, self.core[h])
        share = self.vm_mips[v] / self.total[h]
        acc = self.hist[h]
        for i, value in enumerate(self.history[v][:HISTORY_LENGTH]):
            acc[i] += sign * value * share

    def add(self, v: int, h: int) -> None:
        self.host_vms[h].append(v)
        self._count(v, h, 1)

    def remove(self, v: int, h: int) -> None:
        self.host_vms[h].remove(v)
        self._count(v, h, -1)

    def over(self, h: int) -> bool:
        return self.detector(self.requested[h] / self.total[h], self.hist[h])

    def over_with(self, v: int, h: int) -> bool:
        self._count(v, h, 1)
        try:
            return self.over(h)
        finally:
            self._count(v, h, -1)

    def find_host(self, v: int, excluded: set[int], candidates: Sequence[int] | None = None) -> int | None:
        """PowerVmAllocationPolicyMigrationAbstract.findHostForVm: among suitable hosts
        (a core can take the VM's request, the free MIPS too) not over-utilised with it
        (unless empty), the one whose power rises least over its power at the instant.
        `candidates`: the hosts worth looking at, in host order (default: all)."""
        d = self.demand[v]
        best, best_diff = None, float("inf")
        for h in range(len(self.total)) if candidates is None else candidates:
            total = self.total[h]
            if h in excluded or self.core[h] < d or total - self.allocated[h] < d:
                continue
            after = (self.allocated[h] + d) / total
            curve = self.curves[h]
            diff = curve.power(after) - curve.power(self.utilisation0[h])
            if diff >= best_diff:
                continue
            if self.allocated[h] != 0 and self.over_with(v, h):
                continue
            best, best_diff = h, diff
        return best


def _by_demand(r: Round, vms: list[int]) -> list[int]:
    return sorted(vms, key=lambda v: -r.demand[v])  # stable, as Collections.sort


def _mmt(r: Round, h: int) -> int | None:
    """PowerVmSelectionPolicyMinimumMigrationTime: the least RAM, the first of equals."""
    best, least = None, float("inf")
    for v in r.host_vms[h]:
        if r.vm_ram[v] < least:
            best, least = v, r.vm_ram[v]
    return best


def optimise(r: Round) -> list[tuple[int, int]]:
    """The round's migrations as (VM, target host), in CloudSim's order."""
    n = len(r.total)
    over = [h for h in range(n) if r.over(h)]
    leaving: list[int] = []
    for h in over:
        while True:
            v = _mmt(r, h)
            if v is None:
                break
            leaving.append(v)
            r.remove(v, h)
            if not r.over(h):
                break
    moves: list[tuple[int, int]] = []
    excluded = set(over)
    for v in _by_demand(r, leaving):
        target = r.find_host(v, excluded)
        if target is not None:
            r.add(v, target)
            moves.append((v, target))
    moves += _from_underused(r, over)
    return moves


def _from_underused(r: Round, over: list[int]) -> list[tuple[int, int]]:
    n = len(r.total)
    off = {h for h in range(n) if r.utilisation0[h] == 0}
    not_under = set(over) | off  # the round's own migration list starts empty here
    not_target = set(over) | off
    # hosts off at the instant never take a VM here: look only at the others
    active = [h for h in range(n) if h not in not_target]
    moves: list[tuple[int, int]] = []
    while len(not_under) < n:
        under, least = None, 1.0
        for h in active:
            if h in not_under:
                continue
            u = r.utilisation0[h]
            if 0 < u < least:
                under, least = h, u
        if under is None:
            break
        not_under.add(under)
        not_target.add(under)
        vms = list(r.host_vms[under])
        if not vms:
            continue
        placed: list[tuple[int, int]] = []
        for v in _by_demand(r, vms):
            target = r.find_host(v, not_target, active)
            if target is None:
                for pv, pt in placed:
                    r.remove(pv, pt)
                placed = []
                break
            r.add(v, target)
            placed.append((v, target))
        for v, _ in placed:
            r.remove(v, under)
        not_under.update(t for _, t in placed)
        moves += placed
    return moves
