"""Placement: filters say which hosts can take an instance, weighers which is best.

Used by create, migration target choice, evacuation (DPM, maintenance), HA restarts and the
DRS target check. A failed placement says, for every host, the first filter that rejected it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from .model import (
    ClusterPolicy,
    FilterName,
    HostPowerState,
    InstanceState,
    PlacementStrategy,
    RuleKind,
    RuleStrength,
    Snapshot,
    WeigherName,
)
from .state import ClusterIndex, HostUsage, index_for, instance_demand, peak_demand

UP_ONLY = frozenset({HostPowerState.UP})


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    instance: InstanceState
    exclude_hosts: frozenset[str] = frozenset()  # e.g. the source of a migration
    candidate_hosts: frozenset[str] | None = None  # restrict the search (None: all hosts)
    strategy: PlacementStrategy | None = None  # None: the cluster policy's
    max_cpu_load: float | None = None  # None: the cluster policy's
    host_states: frozenset[HostPowerState] = UP_ONLY  # DPM may plan onto standby hosts


@dataclass(frozen=True, slots=True)
class Rejection:
    host_id: str
    filter: FilterName
    reason: str


@dataclass(frozen=True, slots=True)
class PlacementResult:
    instance_id: str
    host_id: str | None
    rejections: tuple[Rejection, ...]
    ranking: tuple[tuple[str, float], ...] = ()  # passing hosts and weights, best first

    @property
    def ok(self) -> bool:
        return self.host_id is not None

    def rejected_by(self) -> dict[FilterName, int]:
        return dict(Counter(r.filter for r in self.rejections))

    def explain(self) -> str:
        if self.ok:
            return f"instance {self.instance_id}: host {self.host_id}"
        counts = ", ".join(f"{n} by {f}" for f, n in sorted(self.rejected_by().items()))
        lines = [
            f"no valid host for instance {self.instance_id}: "
            f"{len(self.rejections)} hosts rejected ({counts or 'no hosts'})"
        ]
        lines += [f"  {r.host_id}: {r.filter}: {r.reason}" for r in self.rejections]
        return "\n".join(lines)


class HostChecker:
    """The filters for one instance, with its rule constraints worked out once."""

    def __init__(self, request: PlacementRequest, index: ClusterIndex) -> None:
        policy = index.policy
        inst = request.instance
        self.request = request
        self.index = index
        self.policy = policy
        self.inst = inst
        known = index.demand.get(inst.id)
        self.demand = known if known is not None else instance_demand(inst, policy)
        # one vCPU runs on one physical CPU: its worst recent sample has to fit one
        peak = peak_demand(inst, policy, self.demand)
        self.per_vcpu = peak / inst.vcpus if inst.vcpus else 0.0
        self.max_cpu_load = request.max_cpu_load if request.max_cpu_load is not None else policy.max_cpu_load
        self.forbidden: dict[str, str] = {}  # host -> rule id (MUST)
        self.required: list[tuple[frozenset[str], str]] = []  # allowed hosts, rule id (MUST)
        self.soft_penalty: Counter[str] = Counter()  # host -> broken SHOULD rules
        self.soft_bonus: Counter[str] = Counter()
        self._work_out_rules()
        self.filters: tuple[tuple[FilterName, Callable[[HostUsage], str | None]], ...] = tuple(
            (name, getattr(self, "_" + name.value.replace("-", "_"))) for name in policy.filters
        )

    def _work_out_rules(self) -> None:
        index = self.index
        iid = self.inst.id
        for rule in index.rules_for(self.inst):
            must = rule.strength is RuleStrength.MUST
            if rule.kind is RuleKind.VM_HOST_AFFINITY:
                if must:
                    self.required.append((rule.host_ids, rule.id))
                else:
                    for h in rule.host_ids:
                        self.soft_bonus[h] += 1
            elif rule.kind is RuleKind.VM_HOST_ANTI_AFFINITY:
                for h in rule.host_ids:
                    if must:
                        self.forbidden.setdefault(h, rule.id)
                    else:
                        self.soft_penalty[h] += 1
            else:
                others: Counter[str] = Counter()
                for other in rule.instance_ids:
                    host = index.location.get(other) if other != iid else None
                    if host is not None:
                        others[host] += 1
                if not others:
                    continue
                if rule.kind is RuleKind.VM_ANTI_AFFINITY:
                    for h in others:
                        if must:
                            self.forbidden.setdefault(h, rule.id)
                        else:
                            self.soft_penalty[h] += 1
                else:  # affinity: join where most members already run
                    home = min(others, key=lambda h: (-others[h], h))  # ties: host id
                    if must:
                        self.required.append((frozenset({home}), rule.id))
                    else:
                        self.soft_bonus[home] += 1

    def check(self, usage: HostUsage) -> tuple[FilterName, str] | None:
        for name, check in self.filters:
            reason = check(usage)
            if reason is not None:
                return name, reason
        return None

    # --- the filters: None passes, a string is the reason for rejecting --------------------

    def _host_state(self, u: HostUsage) -> str | None:
        if u.host.state not in self.request.host_states:
            return f"host is {u.host.state}"
        return None

    def _cpu_compatibility(self, u: HostUsage) -> str | None:
        if not u.host.baseline_compatible:
            return "host cannot provide the cluster CPU baseline"
        missing = self.inst.cpu_features - u.host.cpu_features
        if missing:
            return f"host lacks CPU features {', '.join(sorted(missing))}"
        return None

    def _required_tags(self, u: HostUsage) -> str | None:
        missing = self.inst.required_tags - u.host.tags
        return f"host lacks tags {', '.join(sorted(missing))}" if missing else None

    def _reachability(self, u: HostUsage) -> str | None:
        pools = self.inst.storage_pools - u.host.storage_pools
        if pools:
            return f"storage pools not reachable: {', '.join(sorted(pools))}"
        nets = self.inst.networks - u.host.networks
        return f"networks not reachable: {', '.join(sorted(nets))}" if nets else None

    def _rules(self, u: HostUsage) -> str | None:
        rule_id = self.forbidden.get(u.host.id)
        if rule_id is not None:
            return f"rule {rule_id} forbids this host"
        for allowed, rid in self.required:
            if u.host.id not in allowed:
                return f"rule {rid} requires another host"
        return None

    def _numa_pinning(self, u: HostUsage) -> str | None:
        host, inst = u.host, self.inst
        if inst.pinned:
            free = host.cpus - host.reserved_cpus - u.pinned_vcpus
            if inst.vcpus > free:
                return f"{inst.vcpus} dedicated CPUs wanted, {free} free"
            per_node = host.cpus // max(host.numa_nodes, 1)
            if inst.vcpus > per_node:
                return f"{inst.vcpus} dedicated CPUs do not fit a NUMA node of {per_node}"
        if self.per_vcpu > host.mhz:
            return f"a vCPU demands {self.per_vcpu:.0f} MHz, a host CPU gives {host.mhz:.0f}"
        return None

    def _vcpu(self, u: HostUsage) -> str | None:
        host, inst = u.host, self.inst
        pinned = u.pinned_vcpus + (inst.vcpus if inst.pinned else 0)
        shared = u.shared_vcpus + (0 if inst.pinned else inst.vcpus)
        limit = (host.cpus - pinned) * self.policy.cpu_overcommit
        if shared > limit:
            return f"{shared} shared vCPUs over the limit {limit:g}"
        return None

    def _memory(self, u: HostUsage) -> str | None:
        limit = u.host.usable_memory_mb * self.policy.ram_overcommit
        wanted = u.memory_mb + self.inst.memory_mb
        if wanted > limit:
            return f"{self.inst.memory_mb} MB wanted, {max(limit - u.memory_mb, 0):.0f} MB free"
        return None

    def _disk(self, u: HostUsage) -> str | None:
        if u.host.disk_gb <= 0 or self.inst.disk_gb <= 0:
            return None
        limit = u.host.disk_gb * self.policy.disk_overcommit
        if u.disk_gb + self.inst.disk_gb > limit:
            return f"{self.inst.disk_gb:g} GB wanted, {max(limit - u.disk_gb, 0):g} GB free"
        return None

    def _cpu_reservation(self, u: HostUsage) -> str | None:
        free = u.host.usable_mhz - u.reserved_mhz
        if self.inst.reservation_mhz > free:
            return f"{self.inst.reservation_mhz:.0f} MHz reservation, {free:.0f} MHz unreserved"
        return None

    def _cpu_demand(self, u: HostUsage) -> str | None:
        limit = u.host.usable_mhz * self.max_cpu_load
        projected = u.demand_mhz + self.demand
        if projected > limit:
            return f"demand would reach {projected:.0f} MHz, limit {limit:.0f} MHz"
        return None


def _raw_weights(checker: HostChecker, u: HostUsage) -> tuple[float, float, float, float]:
    host = u.host
    free_ram = host.usable_memory_mb * checker.policy.ram_overcommit - u.memory_mb
    usable = host.usable_mhz
    cpu_free = 1.0 - (u.demand_mhz + checker.demand) / usable if usable > 0 else 0.0
    hid = host.id
    soft = checker.soft_bonus.get(hid, 0) - checker.soft_penalty.get(hid, 0)
    return free_ram, cpu_free, -len(u.instance_ids), soft


_WEIGHER_COLUMN = {
    WeigherName.FREE_RAM: 0,
    WeigherName.CPU_LOAD: 1,
    WeigherName.INSTANCE_COUNT: 2,
    WeigherName.SOFT_RULES: 3,
}
_TOP_RANKING = 5


def place(
    request: PlacementRequest, snapshot: Snapshot, policy: ClusterPolicy, index: ClusterIndex | None = None
) -> PlacementResult:
    """The best host for the request, or every host's rejection.

    `index` lets a planner place many instances on its own working copy; by default the
    snapshot's cached (read-only) index is used.
    """
    index = index if index is not None else index_for(snapshot, policy)
    checker = HostChecker(request, index)
    strategy = request.strategy or policy.strategy
    sign = 1.0 if strategy is PlacementStrategy.SPREAD else -1.0
    rejections: list[Rejection] = []
    passing: list[tuple[str, tuple[float, float, float, float]]] = []
    candidates = request.candidate_hosts
    excluded = request.exclude_hosts
    for hid, usage in index.usage.items():
        if candidates is not None and hid not in candidates:
            continue
        if hid in excluded:
            rejections.append(Rejection(hid, FilterName.HOST_STATE, "excluded by the request"))
            continue
        verdict = checker.check(usage)
        if verdict is None:
            passing.append((hid, _raw_weights(checker, usage)))
        else:
            rejections.append(Rejection(hid, verdict[0], verdict[1]))
    if not passing:
        return PlacementResult(request.instance.id, None, tuple(rejections))
    ranking = _rank(passing, policy, sign)
    return PlacementResult(request.instance.id, ranking[0][0], tuple(rejections), tuple(ranking[:_TOP_RANKING]))


def _rank(
    passing: list[tuple[str, tuple[float, float, float, float]]], policy: ClusterPolicy, sign: float
) -> list[tuple[str, float]]:
    """Nova-style: each weigher normalised to 0..1 over the candidates, then weighted."""
    columns = []
    for name, multiplier in policy.weighers:
        col = _WEIGHER_COLUMN[name]
        values = [raw[col] for _, raw in passing]
        low, high = min(values), max(values)
        if high == low:
            continue
        direction = 1.0 if name is WeigherName.SOFT_RULES else sign
        columns.append((col, multiplier * direction, low, high - low))
    scored = []
    for hid, raw in passing:
        weight = 0.0
        for col, mult, low, span in columns:
            weight += mult * (raw[col] - low) / span
        scored.append((hid, weight))
    scored.sort(key=lambda item: (-item[1], item[0]))
    return scored


def check_host(request: PlacementRequest, host_id: str, index: ClusterIndex) -> Rejection | None:
    """One host through the filters (a migration pre-check)."""
    checker = HostChecker(request, index)
    if host_id in request.exclude_hosts:
        return Rejection(host_id, FilterName.HOST_STATE, "excluded by the request")
    verdict = checker.check(index.usage[host_id])
    return None if verdict is None else Rejection(host_id, verdict[0], verdict[1])
