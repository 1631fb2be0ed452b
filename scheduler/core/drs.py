"""DRS: rule violations first, then overloaded hosts, then greedy balancing of smoothed load.

A host is overloaded when its smoothed CPU demand or its newest sample passes
`drs_overload` of its capacity, or an instance's newest sample asks one vCPU for more than a
physical CPU gives; instances leave it (the cheapest to migrate that brings it under
`drs_max_target_load`, else the biggest) until it is under, whatever the imbalance.

Host load is the dominant share of smoothed CPU demand and active memory (see state.py);
imbalance is the standard deviation of the loads of the hosts that are up. Each balancing
move is the one with the best imbalance reduction per second of migration, must reduce the
sum of squared load deviations by at least the threshold's `min_gain`, may not push its
target over `drs_max_target_load`, and never touches an instance migrated within the
hysteresis window — so a spike that moves elsewhere does not bounce the instance back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .model import (
    ClusterPolicy,
    Move,
    MoveReason,
    Rule,
    RuleKind,
    RuleStrength,
    Snapshot,
)
from .placement import HostChecker, PlacementRequest, place
from .state import ClusterIndex, HostUsage, index_for

ROOM_EPSILON_MHZ = 1e-6  # float slack, so the room check never refuses what placement takes


@dataclass(frozen=True, slots=True)
class RuleViolation:
    rule_id: str
    strength: RuleStrength
    instance_ids: tuple[str, ...]  # the instances that have to move to fix it
    message: str


@dataclass(frozen=True, slots=True)
class DrsResult:
    moves: tuple[Move, ...]
    imbalance_before: float
    imbalance_after: float  # predicted from the smoothed demand
    target_imbalance: float | None
    violations: tuple[RuleViolation, ...]
    unresolved: tuple[RuleViolation, ...]  # violations no move could fix
    host_loads: dict[str, float]  # after the moves


def host_loads(index: ClusterIndex) -> dict[str, float]:
    return {u.host.id: u.load for u in index.up_hosts()}


def imbalance(loads: list[float] | tuple[float, ...]) -> float:
    """Population standard deviation of host loads."""
    n = len(loads)
    if n == 0:
        return 0.0
    mean = sum(loads) / n
    return math.sqrt(sum((x - mean) ** 2 for x in loads) / n)


def find_violations(index: ClusterIndex) -> list[RuleViolation]:
    violations = []
    for rule in index.rules:
        placed = index.members_on(rule)
        movers: list[str] = []
        if rule.kind is RuleKind.VM_ANTI_AFFINITY:
            for members in placed.values():
                movers += sorted(members)[1:]
        elif rule.kind is RuleKind.VM_AFFINITY:
            if len(placed) > 1:
                home = max(placed, key=lambda h: (len(placed[h]), h))
                movers = sorted(i for h, ms in placed.items() if h != home for i in ms)
        elif rule.kind is RuleKind.VM_HOST_AFFINITY:
            movers = sorted(i for h, ms in placed.items() if h not in rule.host_ids for i in ms)
        else:
            movers = sorted(i for h, ms in placed.items() if h in rule.host_ids for i in ms)
        if movers:
            violations.append(
                RuleViolation(
                    rule.id,
                    rule.strength,
                    tuple(movers),
                    f"{rule.kind} rule {rule.id} ({rule.strength}) broken by {', '.join(movers)}",
                )
            )
    violations.sort(key=lambda v: (v.strength is not RuleStrength.MUST, v.rule_id))
    return violations


def _fix_violations(
    index: ClusterIndex, snapshot: Snapshot, policy: ClusterPolicy, violations: list[RuleViolation]
) -> tuple[list[Move], list[RuleViolation]]:
    moves: list[Move] = []
    unresolved: list[RuleViolation] = []
    rules = {r.id: r for r in index.rules}
    for violation in violations:
        rule: Rule = rules[violation.rule_id]
        fixed = True
        for iid in violation.instance_ids:
            source = index.location[iid]
            request = PlacementRequest(
                index.instances[iid],
                exclude_hosts=frozenset({source}),
                candidate_hosts=_rule_candidates(rule, index, iid),
            )
            result = place(request, snapshot, policy, index)
            if not result.ok:
                fixed = False
                continue
            index.move(iid, result.host_id)
            moves.append(
                Move(
                    iid,
                    source,
                    result.host_id,
                    MoveReason.RULE,
                    cost_s=index.migration_cost_s(iid),
                    benefit=1.0,
                    explanation=violation.message,
                    rule_id=rule.id,
                )
            )
        if not fixed:
            unresolved.append(violation)
    return moves, unresolved


def _rule_candidates(rule: Rule, index: ClusterIndex, iid: str) -> frozenset[str] | None:
    """Where a SHOULD rule's mover may go (MUST rules are already filters)."""
    if rule.strength is RuleStrength.MUST:
        return None
    if rule.kind is RuleKind.VM_HOST_AFFINITY:
        return rule.host_ids
    if rule.kind is RuleKind.VM_HOST_ANTI_AFFINITY:
        return frozenset(index.usage) - rule.host_ids
    placed = index.members_on(rule)
    if rule.kind is RuleKind.VM_AFFINITY:
        home = max(placed, key=lambda h: (len(placed[h]), h))
        return frozenset({home})
    return frozenset(index.usage) - frozenset(h for h in placed if h != index.location[iid])


def _overloaded(u: HostUsage, policy: ClusterPolicy) -> str | None:
    """Why the host's CPU is over `drs_overload` (smoothed or newest sample), or None."""
    usable = u.host.usable_mhz
    if usable <= 0:
        return None
    if u.cpu_load > policy.drs_overload:
        return f"smoothed CPU demand at {u.cpu_load:.0%} of capacity"
    if u.recent_mhz / usable > policy.drs_overload:
        return f"CPU demand at {u.recent_mhz / usable:.0%} of capacity in the newest sample"
    return None


def _core_bound(u: HostUsage, index: ClusterIndex) -> list[str]:
    """Instances whose newest sample asks more per vCPU than one of the host's CPUs gives."""
    mhz = u.host.mhz
    bound = []
    for iid in u.ordered_ids():
        inst = index.instances[iid]
        if inst.cpu_demand_mhz and inst.vcpus and inst.cpu_demand_mhz[-1] / inst.vcpus > mhz:
            bound.append(iid)
    return bound


def _relieved(u: HostUsage, policy: ClusterPolicy) -> bool:
    usable = u.host.usable_mhz
    return u.cpu_load <= policy.drs_max_target_load and u.recent_mhz / usable <= policy.drs_max_target_load


def _relief_order(u: HostUsage, index: ClusterIndex, policy: ClusterPolicy, frozen: set[str]) -> list[str]:
    """Instances to try moving off an overloaded host, best first: the cheapest to migrate
    whose departure is enough, then the biggest; recently migrated instances last
    (hysteresis yields to an overload, but only as a last resort)."""
    usable = u.host.usable_mhz
    excess = (
        max(u.cpu_load - policy.drs_max_target_load, u.recent_mhz / usable - policy.drs_max_target_load, 0.0) * usable
    )

    def key(iid: str) -> tuple[bool, int, float, str]:
        series = index.series.get(iid)
        recent = series[-1] if series else index.demand[iid]
        enough = min(index.demand[iid], recent) >= excess
        return (iid in frozen, 0 if enough else 1, index.migration_cost_s(iid) if enough else -index.demand[iid], iid)

    return sorted(u.instance_ids, key=key)


def most_room_mhz(up: list[HostUsage], max_load: float) -> float:
    """The most CPU demand any of the hosts can still take under `max_load` of its capacity:
    an instance asking more fits none of them, so placement need not be asked."""
    return max((u.host.usable_mhz * max_load - u.demand_mhz for u in up), default=0.0)


def _relieve_overloads(
    index: ClusterIndex, snapshot: Snapshot, policy: ClusterPolicy, frozen: set[str], budget: int
) -> list[Move]:
    moves: list[Move] = []
    up = index.up_hosts()
    # placement only looks at these (standby hosts fail its first filter anyway)
    up_ids = frozenset(u.host.id for u in up)
    room = most_room_mhz(up, policy.drs_max_target_load)

    def move_off(u: HostUsage, iid: str, why: str) -> bool:
        nonlocal room
        if index.demand[iid] > room + ROOM_EPSILON_MHZ:
            return False  # on a crowded cluster, skip a placement pass over every host
        source = u.host.id
        request = PlacementRequest(
            index.instances[iid],
            exclude_hosts=frozenset({source}),
            candidate_hosts=up_ids,
            max_cpu_load=policy.drs_max_target_load,
        )
        result = place(request, snapshot, policy, index)
        if not result.ok:
            return False
        load = u.cpu_load
        index.move(iid, result.host_id)
        room = most_room_mhz(up, policy.drs_max_target_load)
        frozen.add(iid)
        moves.append(
            Move(
                iid,
                source,
                result.host_id,
                MoveReason.OVERLOAD,
                cost_s=index.migration_cost_s(iid),
                benefit=load - u.cpu_load,
                explanation=f"{source} overloaded: {why}",
            )
        )
        return True

    for u in sorted(up, key=lambda u: (-u.cpu_load, u.host.id)):
        for iid in _core_bound(u, index):
            if len(moves) < budget:
                move_off(u, iid, f"instance {iid} wants more of a vCPU than a host CPU gives")
        why = _overloaded(u, policy)
        if why is None:
            continue
        moved = True
        while moved and not _relieved(u, policy) and len(moves) < budget:
            moved = any(move_off(u, iid, why) for iid in _relief_order(u, index, policy, frozen))
    return moves


def _recently_migrated(snapshot: Snapshot, policy: ClusterPolicy) -> set[str]:
    horizon = snapshot.now - policy.drs_hysteresis_s
    return {
        m.instance_id for m in snapshot.recent_migrations if policy.drs_hysteresis_s > 0 and m.finished_at > horizon
    }


def _load_after(u: HostUsage, demand: float, memory: float, sign: int) -> float:
    host = u.host
    cpu = (u.demand_mhz + sign * demand) / host.usable_mhz
    mem = (u.active_memory_mb + sign * memory) / host.usable_memory_mb
    return cpu if cpu > mem else mem


class _Balancer:
    def __init__(self, index: ClusterIndex, snapshot: Snapshot, policy: ClusterPolicy) -> None:
        self.index = index
        self.policy = policy
        self.frozen = _recently_migrated(snapshot, policy)
        self.level = policy.drs_level
        self.up = index.up_hosts()
        self.loads = {u.host.id: u.load for u in self.up}
        self.n = len(self.up)
        self.sum = sum(self.loads.values())
        self.sumsq = sum(x * x for x in self.loads.values())
        self.checkers: dict[str, HostChecker] = {}

    def sigma(self) -> float:
        if self.n == 0:
            return 0.0
        var = self.sumsq / self.n - (self.sum / self.n) ** 2
        return math.sqrt(max(var, 0.0))

    def _ss(self, total: float, sumsq: float) -> float:
        return sumsq - total * total / self.n

    def best_move(self) -> tuple[float, float, str, HostUsage, HostUsage, float, float] | None:
        k = self.policy.drs_candidate_hosts
        ordered = sorted(self.up, key=lambda u: (self.loads[u.host.id], u.host.id))
        sources = ordered[-k:][::-1]
        targets = ordered[:k]
        index = self.index
        ss_now = self._ss(self.sum, self.sumsq)
        best = None
        for src in sources:
            ls = self.loads[src.host.id]
            for iid in src.ordered_ids():
                if iid in self.frozen:
                    continue
                inst = index.instances[iid]
                demand = index.demand[iid]
                memory = inst.active_memory
                ls_new = _load_after(src, demand, memory, -1)
                cost = index.migration_cost_s(iid)
                for tgt in targets:
                    if tgt is src:
                        continue
                    lt = self.loads[tgt.host.id]
                    if lt >= ls:
                        continue
                    lt_new = _load_after(tgt, demand, memory, 1)
                    if lt_new >= ls or lt_new > self.policy.drs_max_target_load:
                        continue
                    total = self.sum - ls - lt + ls_new + lt_new
                    sumsq = self.sumsq - ls * ls - lt * lt + ls_new * ls_new + lt_new * lt_new
                    gain = ss_now - self._ss(total, sumsq)
                    if gain < self.level.min_gain:
                        continue
                    score = gain / max(cost, 1e-3)
                    if best is not None and score <= best[0]:
                        continue
                    if not self._fits(iid, src, tgt):
                        continue
                    best = (score, gain, iid, src, tgt, ls_new, lt_new)
        return best

    def _fits(self, iid: str, src: HostUsage, tgt: HostUsage) -> bool:
        checker = self.checkers.get(iid)
        if checker is None:
            request = PlacementRequest(
                self.index.instances[iid],
                exclude_hosts=frozenset({src.host.id}),
                max_cpu_load=self.policy.drs_max_target_load,
            )
            checker = self.checkers[iid] = HostChecker(request, self.index)
        return checker.check(tgt) is None

    def apply(self, iid: str, src: HostUsage, tgt: HostUsage, ls_new: float, lt_new: float) -> None:
        ls, lt = self.loads[src.host.id], self.loads[tgt.host.id]
        self.index.move(iid, tgt.host.id)
        # the index re-estimates both hosts from their summed series: take its figures
        ls_new, lt_new = src.load, tgt.load
        self.sum += ls_new + lt_new - ls - lt
        self.sumsq += ls_new * ls_new + lt_new * lt_new - ls * ls - lt * lt
        self.loads[src.host.id], self.loads[tgt.host.id] = ls_new, lt_new
        self.frozen.add(iid)
        self.checkers.clear()  # rule constraints of other instances may have changed


def recommend(snapshot: Snapshot, policy: ClusterPolicy, index: ClusterIndex | None = None) -> DrsResult:
    """DRS recommendations for the snapshot. Does not act.

    Pass `index` to plan on a working copy (it is then modified); by default a copy of the
    snapshot's index is used.
    """
    index = index if index is not None else index_for(snapshot, policy).copy()
    before = imbalance(list(host_loads(index).values()))
    violations = find_violations(index)
    moves, unresolved = _fix_violations(index, snapshot, policy, violations)
    level = policy.drs_level
    if policy.drs_enabled:
        frozen = _recently_migrated(snapshot, policy) | {m.instance_id for m in moves}
        moves += _relieve_overloads(index, snapshot, policy, frozen, policy.drs_max_moves)
    if policy.drs_enabled and level.target_imbalance is not None:
        balancer = _Balancer(index, snapshot, policy)
        balancer.frozen.update(m.instance_id for m in moves)
        while len(moves) < policy.drs_max_moves and balancer.sigma() > level.target_imbalance:
            sigma = balancer.sigma()
            best = balancer.best_move()
            if best is None:
                break
            _, gain, iid, src, tgt, ls_new, lt_new = best
            balancer.apply(iid, src, tgt, ls_new, lt_new)
            moves.append(
                Move(
                    iid,
                    src.host.id,
                    tgt.host.id,
                    MoveReason.BALANCE,
                    cost_s=index.migration_cost_s(iid),
                    benefit=gain,
                    explanation=f"imbalance {sigma:.4f} -> {balancer.sigma():.4f}",
                )
            )
    loads = host_loads(index)
    return DrsResult(
        tuple(moves),
        before,
        imbalance(list(loads.values())),
        level.target_imbalance,
        tuple(violations),
        tuple(unresolved),
        loads,
    )
