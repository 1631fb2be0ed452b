"""Demand smoothing and the per-host aggregates every planner works on.

A `ClusterIndex` is built once per snapshot and policy (O(instances)); planners take a copy
and `move()` instances on it, so each tentative decision sees the consequences of the
earlier ones without rebuilding anything.

A host's CPU demand is the estimate of the *sum* of its instances' histories (one series per
host over the demand window), not the sum of each instance's estimate: instances rarely peak
together, and adding per-instance 80th percentiles overstates a host by about half on the
PlanetLab traces. `ClusterPolicy.aggregate_host_demand=False` restores the plain sum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from .model import (
    ClusterPolicy,
    DemandEstimator,
    HostPowerState,
    HostState,
    InstanceState,
    Rule,
    RuleKind,
    Snapshot,
    server_group_rule_id,
)


def estimate_demand(samples: Sequence[float], policy: ClusterPolicy) -> float:
    """One demand figure (MHz) from a history: a high percentile or an EWMA over the window."""
    if not samples:
        return 0.0
    window = samples[-policy.demand_window :]
    if policy.demand_estimator is DemandEstimator.LAST:
        return float(window[-1])
    if policy.demand_estimator is DemandEstimator.EWMA:
        alpha = policy.ewma_alpha
        value = float(window[0])
        for sample in window[1:]:
            value += alpha * (sample - value)
        return value
    ordered = sorted(window)
    rank = math.ceil(policy.demand_percentile / 100.0 * len(ordered)) - 1
    return float(ordered[max(rank, 0)])


def instance_demand(inst: InstanceState, policy: ClusterPolicy) -> float:
    """Smoothed demand, never below the instance's reservation."""
    return max(estimate_demand(inst.cpu_demand_mhz, policy), inst.reservation_mhz)


def demand_series(inst: InstanceState, policy: ClusterPolicy, demand: float) -> tuple[float, ...]:
    """The instance's share of its host's demand series: its last `demand_window` samples,
    newest last, each at least its reservation; where the history is shorter (or absent),
    its smoothed `demand` stands in for the missing samples."""
    window = policy.demand_window
    samples = inst.cpu_demand_mhz[-window:]
    floor = inst.reservation_mhz
    known = tuple(s if s > floor else floor for s in samples)
    return (demand,) * (window - len(known)) + known


def peak_demand(inst: InstanceState, policy: ClusterPolicy, demand: float) -> float:
    """The highest sample in the window (at least the smoothed demand): what one vCPU may
    need of one physical CPU at worst."""
    samples = inst.cpu_demand_mhz[-policy.demand_window :]
    return max(max(samples, default=0.0), demand)


class HostUsage:
    """What is allocated to, and demanded of, one host."""

    __slots__ = (
        "host",
        "shared_vcpus",
        "pinned_vcpus",
        "memory_mb",
        "active_memory_mb",
        "disk_gb",
        "reserved_mhz",
        "demand_mhz",
        "instance_ids",
        "series",
        "policy",
    )

    def __init__(self, host: HostState, policy: ClusterPolicy | None = None) -> None:
        self.host = host
        self.shared_vcpus = 0
        self.pinned_vcpus = 0
        self.memory_mb = 0.0
        self.active_memory_mb = 0.0
        self.disk_gb = 0.0
        self.reserved_mhz = 0.0
        self.demand_mhz = 0.0
        self.instance_ids: set[str] = set()
        # the summed demand series of the instances (None: demand is the sum of estimates)
        self.policy = policy
        self.series: list[float] | None = (
            [0.0] * policy.demand_window if policy is not None and policy.aggregate_host_demand else None
        )

    def copy(self) -> HostUsage:
        other = HostUsage.__new__(HostUsage)
        for name in HostUsage.__slots__:
            setattr(other, name, getattr(self, name))
        other.instance_ids = set(self.instance_ids)
        if self.series is not None:
            other.series = list(self.series)
        return other

    def add(
        self, inst: InstanceState, demand: float, sign: int = 1, series: tuple[float, ...] = (), refresh: bool = True
    ) -> None:
        """Count (sign 1) or uncount (-1) an instance; `series` is its `demand_series`
        when the host's demand is aggregated. `refresh=False` defers re-estimating the
        host (call `refresh_demand` after a batch)."""
        if inst.pinned:
            self.pinned_vcpus += sign * inst.vcpus
        else:
            self.shared_vcpus += sign * inst.vcpus
        self.memory_mb += sign * inst.memory_mb
        self.active_memory_mb += sign * inst.active_memory
        self.disk_gb += sign * inst.disk_gb
        self.reserved_mhz += sign * inst.reservation_mhz
        if sign > 0:
            self.instance_ids.add(inst.id)
        else:
            self.instance_ids.discard(inst.id)
        if self.series is None:
            self.demand_mhz += sign * demand
            return
        acc = self.series
        for k, value in enumerate(series):
            acc[k] += sign * value
        if refresh:
            self.refresh_demand()

    def refresh_demand(self) -> None:
        """Re-estimate the host's demand from its summed series."""
        if self.series is None or self.policy is None:
            return
        if not self.instance_ids:
            self.series = [0.0] * len(self.series)  # no rounding residue on an empty host
            self.demand_mhz = 0.0
            return
        self.demand_mhz = max(estimate_demand(self.series, self.policy), 0.0)

    def ordered_ids(self) -> list[str]:
        """The instance ids in id order: iterate these, never the set, wherever order
        (or a float sum) can change a decision."""
        return sorted(self.instance_ids)

    @property
    def recent_mhz(self) -> float:
        """The demand of the newest sample (the smoothed demand when not aggregated)."""
        return self.series[-1] if self.series is not None else self.demand_mhz

    @property
    def cpu_load(self) -> float:
        usable = self.host.usable_mhz
        return self.demand_mhz / usable if usable > 0 else math.inf

    @property
    def memory_load(self) -> float:
        usable = self.host.usable_memory_mb
        return self.active_memory_mb / usable if usable > 0 else math.inf

    @property
    def load(self) -> float:
        """The dominant of smoothed CPU demand and active memory, as a share of capacity."""
        return max(self.cpu_load, self.memory_load)


class ClusterIndex:
    """Per-host usage, instance locations and rule membership for one snapshot and policy."""

    def __init__(self, snapshot: Snapshot, policy: ClusterPolicy) -> None:
        self.snapshot = snapshot
        self.policy = policy
        self.hosts: dict[str, HostState] = snapshot.host_map()
        # id order, whatever the snapshot's: same inputs, same decisions (and float sums)
        self.usage: dict[str, HostUsage] = {
            h.id: HostUsage(h, policy) for h in sorted(snapshot.hosts, key=lambda h: h.id)
        }
        self.instances: dict[str, InstanceState] = {}
        self.demand: dict[str, float] = {}
        self.series: dict[str, tuple[float, ...]] = {}
        self.location: dict[str, str | None] = {}
        aggregate = policy.aggregate_host_demand
        for inst in sorted(snapshot.instances, key=lambda i: i.id):
            demand = instance_demand(inst, policy)
            self.instances[inst.id] = inst
            self.demand[inst.id] = demand
            self.location[inst.id] = inst.host
            series = demand_series(inst, policy, demand) if aggregate else ()
            if aggregate:
                self.series[inst.id] = series
            if inst.host is not None and inst.host in self.usage:
                self.usage[inst.host].add(inst, demand, series=series, refresh=False)
        for usage in self.usage.values():
            usage.refresh_demand()
        self.rules: tuple[Rule, ...] = snapshot.all_rules()
        self.rules_by_id: dict[str, Rule] = {r.id: r for r in self.rules}
        self.rules_of: dict[str, list[Rule]] = {}
        for rule in self.rules:
            for iid in rule.instance_ids:
                self.rules_of.setdefault(iid, []).append(rule)

    def copy(self) -> ClusterIndex:
        other = ClusterIndex.__new__(ClusterIndex)
        other.snapshot = self.snapshot
        other.policy = self.policy
        other.hosts = self.hosts
        other.usage = {hid: u.copy() for hid, u in self.usage.items()}
        other.instances = dict(self.instances)
        other.demand = dict(self.demand)
        other.series = dict(self.series)
        other.location = dict(self.location)
        other.rules = self.rules
        other.rules_of = self.rules_of
        other.rules_by_id = self.rules_by_id
        return other

    def add_instance(self, inst: InstanceState) -> None:
        """Make a not-yet-placed instance known, so a planner can `move` it onto a host."""
        self.instances[inst.id] = inst
        demand = self.demand[inst.id] = instance_demand(inst, self.policy)
        if self.policy.aggregate_host_demand:
            self.series[inst.id] = demand_series(inst, self.policy, demand)
        self.location[inst.id] = None

    def rules_for(self, inst: InstanceState) -> list[Rule]:
        """The rules naming the instance, and its server group's even if it is new."""
        rules = list(self.rules_of.get(inst.id, ()))
        if inst.server_group is not None:
            group_rule = self.rules_by_id.get(server_group_rule_id(inst.server_group))
            if group_rule is not None and group_rule not in rules:
                rules.append(group_rule)
        return rules

    def move(self, instance_id: str, target: str | None) -> None:
        inst = self.instances[instance_id]
        demand = self.demand[instance_id]
        series = self.series.get(instance_id, ())
        source = self.location[instance_id]
        if source is not None and source in self.usage:
            self.usage[source].add(inst, demand, sign=-1, series=series)
        if target is not None:
            self.usage[target].add(inst, demand, series=series)
        self.location[instance_id] = target

    def set_host_state(self, host_id: str, state: HostPowerState) -> None:
        host = self.hosts[host_id]
        if host.state is state:
            return
        if self.hosts is self.snapshot.host_map():
            self.hosts = dict(self.hosts)
        self.hosts[host_id] = replace(host, state=state)
        self.usage[host_id].host = self.hosts[host_id]

    def up_hosts(self) -> list[HostUsage]:
        return [u for u in self.usage.values() if u.host.state is HostPowerState.UP]

    def members_on(self, rule: Rule) -> dict[str, list[str]]:
        """host id -> the rule's placed instances on it."""
        placed: dict[str, list[str]] = {}
        for iid in rule.instance_ids:
            host = self.location.get(iid)
            if host is not None:
                placed.setdefault(host, []).append(iid)
        return placed

    def migration_cost_s(self, instance_id: str) -> float:
        return migration_cost_s(self.instances[instance_id], self.policy)


def migration_cost_s(inst: InstanceState, policy: ClusterPolicy) -> float:
    """Estimated live-migration time: memory over the bandwidth left after the dirty rate.

    Pre-copy converges only when the bandwidth beats the dirty rate; we floor the effective
    bandwidth at a tenth so a hot instance is expensive but still comparable.
    """
    bandwidth = policy.migration_bandwidth_mb_s
    effective = max(bandwidth - inst.dirty_rate_mb_s, bandwidth * 0.1)
    return inst.memory_mb / effective


def rule_is_vm_vm(rule: Rule) -> bool:
    return rule.kind in (RuleKind.VM_AFFINITY, RuleKind.VM_ANTI_AFFINITY)


def index_for(snapshot: Snapshot, policy: ClusterPolicy) -> ClusterIndex:
    """The snapshot's index for a policy, built once. Read-only: copy before moving."""
    key = ("index", policy)
    index = snapshot._cache.get(key)
    if index is None:
        index = snapshot._cache[key] = ClusterIndex(snapshot, policy)
    return index
