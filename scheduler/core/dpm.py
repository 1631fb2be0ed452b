"""DPM: keep the hosts that are on inside the target range by powering hosts.

Judged per host: a host below the range is emptied — every instance's move planned through
placement onto the other hosts, none of which may pass the range's upper bound — and put in
standby, lightest and least efficient hosts first, as long as the minimum hosts on, the
hosts in reserve, the HA failover capacity and the rules allow it. Whole-cluster
utilisation only guards the direction: no standby while the cluster is above the range,
judged (as vSphere DPM does) over a longer window than waking and on the trend further
ahead, and never for a host woken recently (`held`). Above the range — or heading there on the trend — or when some host is
overloaded and the others cannot absorb its excess, wake standby hosts, most efficient
first, so they are up before the load arrives. Returns a plan; compute's services act.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .ha import admission_check
from .model import (
    ClusterPolicy,
    HostPowerState,
    HostState,
    Move,
    MoveReason,
    PlacementStrategy,
    PowerAction,
    PowerActionKind,
    Snapshot,
)
from .placement import PlacementRequest, place
from .state import ClusterIndex, HostUsage, estimate_demand, index_for

MAX_CANDIDATES = 8  # under-utilised hosts tried for evacuation per standby decision


@dataclass(frozen=True, slots=True)
class DpmPlan:
    moves: tuple[Move, ...]
    power_actions: tuple[PowerAction, ...]
    utilisation_before: float
    utilisation_after: float  # predicted, over the hosts up (or waking) after the plan
    projected_utilisation: float  # with the demand trend over the lookahead
    notes: tuple[str, ...]


def utilisation(usages: list[HostUsage], extra_mhz: float = 0.0) -> float:
    """Dominant share of smoothed CPU demand or active memory over the given hosts."""
    cpu_cap = sum(u.host.usable_mhz for u in usages)
    mem_cap = sum(u.host.usable_memory_mb for u in usages)
    if cpu_cap <= 0 or mem_cap <= 0:
        return float("inf") if any(u.instance_ids for u in usages) else 0.0
    cpu = (sum(u.demand_mhz for u in usages) + extra_mhz) / cpu_cap
    mem = sum(u.active_memory_mb for u in usages) / mem_cap
    return max(cpu, mem)


def demand_trend_mhz(index: ClusterIndex, policy: ClusterPolicy, lookahead: int | None = None) -> float:
    """The growth of total raw demand expected over `lookahead` samples (by default the
    policy's `dpm_lookahead`; 0 if demand is falling).

    A least-squares slope over the demand window of the instances on running hosts (as long
    as the shortest history allows).
    """
    lookahead = policy.dpm_lookahead if lookahead is None else lookahead
    histories = [
        index.instances[iid].cpu_demand_mhz
        for u in index.usage.values()
        if u.host.state is HostPowerState.UP
        for iid in u.ordered_ids()
    ]
    if not histories:
        return 0.0
    window = min(policy.demand_window, min(len(h) for h in histories))
    series = [0.0] * window
    for samples in histories:
        for k, value in enumerate(samples[len(samples) - window :]):
            series[k] += value
    n = len(series)
    if n < 2:
        return 0.0
    mean_x = (n - 1) / 2
    mean_y = sum(series) / n
    num = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(series))
    den = sum((x - mean_x) ** 2 for x in range(n))
    return max(num / den * lookahead, 0.0)


def standby_demand_mhz(index: ClusterIndex, up: list[HostUsage], policy: ClusterPolicy) -> float:
    """The demand of the `up` hosts judged over the standby window: per host, the estimate of
    its instances' summed series over the last `dpm_standby_window` samples (a shorter
    history padded with the instance's smoothed demand), never below its usual demand. So a
    quiet hour right after a peak does not send the hosts that the peak woke back to standby.
    """
    window = policy.dpm_standby_window
    if window <= policy.demand_window:
        return sum(u.demand_mhz for u in up)
    longer = replace(policy, demand_window=window)
    total = 0.0
    for u in up:
        if not u.instance_ids:
            continue
        series = [0.0] * window
        for iid in u.ordered_ids():
            samples = index.instances[iid].cpu_demand_mhz[-window:]
            start = window - len(samples)
            fill = index.demand[iid]
            for k in range(start):
                series[k] += fill
            for k, value in enumerate(samples, start):
                series[k] += value
        total += max(estimate_demand(series, longer), u.demand_mhz)
    return total


def _efficiency(host: HostState) -> float:
    """MHz per peak watt; hosts without a power curve count as equally efficient."""
    if host.power_curve is None:
        return 1.0
    return host.capacity_mhz / host.power_curve.peak


def plan(
    snapshot: Snapshot, policy: ClusterPolicy, index: ClusterIndex | None = None, held: frozenset[str] = frozenset()
) -> DpmPlan:
    """`held`: hosts woken recently (on demand or by DPM) that stay on whatever their load."""
    index = index if index is not None else index_for(snapshot, policy).copy()
    up = index.up_hosts()
    waking = [u for u in index.usage.values() if u.host.state is HostPowerState.WAKING]
    before = utilisation(up)
    trend = demand_trend_mhz(index, policy)
    projected = utilisation(up + waking, trend)
    if not policy.dpm_enabled:
        return DpmPlan((), (), before, before, projected, ("DPM disabled",))
    if projected > policy.dpm_target_high:
        return _wake(index, policy, up + waking, trend, before, projected)
    short = _overload_shortfall(up, waking, policy)
    if short > 0:
        return _wake_for_overload(index, policy, short, before, projected)
    if projected <= policy.dpm_target_high and not waking:
        return _consolidate(index, snapshot, policy, before, projected, trend, held)
    return DpmPlan((), (), before, before, projected, ("waiting for hosts to wake",))


def _wake(
    index: ClusterIndex, policy: ClusterPolicy, on: list[HostUsage], trend: float, before: float, projected: float
) -> DpmPlan:
    standby = [u for u in index.usage.values() if u.host.state is HostPowerState.STANDBY]
    standby.sort(key=lambda u: (-_efficiency(u.host), u.host.id))
    actions = []
    util = projected
    while util > policy.dpm_target_mid and standby:
        chosen = standby.pop(0)
        on = on + [chosen]
        util = utilisation(on, trend)
        actions.append(
            PowerAction(
                chosen.host.id,
                PowerActionKind.WAKE,
                f"projected utilisation {projected:.0%} above {policy.dpm_target_high:.0%}",
            )
        )
    notes = () if actions else ("no standby host left to wake",)
    return DpmPlan((), tuple(actions), before, util, projected, notes)


def _overload_shortfall(up: list[HostUsage], waking: list[HostUsage], policy: ClusterPolicy) -> float:
    """MHz the overloaded hosts must shed (down to the range's middle) that the other hosts
    that are up (up to the range's top) and the waking ones cannot take."""
    excess = spare = 0.0
    for u in up:
        usable = u.host.usable_mhz
        demand = max(u.demand_mhz, u.recent_mhz)
        if demand > policy.drs_overload * usable:
            excess += demand - policy.dpm_target_mid * usable
        else:
            spare += max(policy.dpm_target_high * usable - demand, 0.0)
    spare += sum(policy.dpm_target_high * u.host.usable_mhz for u in waking)
    return excess - spare


def _wake_for_overload(
    index: ClusterIndex, policy: ClusterPolicy, short: float, before: float, projected: float
) -> DpmPlan:
    standby = [u for u in index.usage.values() if u.host.state is HostPowerState.STANDBY]
    standby.sort(key=lambda u: (-_efficiency(u.host), u.host.id))
    actions = []
    for chosen in standby:
        if short <= 0:
            break
        short -= policy.dpm_target_high * chosen.host.usable_mhz
        actions.append(
            PowerAction(chosen.host.id, PowerActionKind.WAKE, "overloaded hosts, and no room left on the others")
        )
    notes = () if actions else ("overloaded hosts, and no standby host left to wake",)
    return DpmPlan((), tuple(actions), before, before, projected, notes)


def _evacuation_order(index: ClusterIndex, up: list[HostUsage], policy: ClusterPolicy) -> list[HostUsage]:
    """Hosts below the range, the lightest and cheapest to empty first. Load is weighed by
    power efficiency (MHz per peak watt, against the best host that is up): a host that
    does a third less work per watt counts as a third less loaded, so inefficient hosts
    are emptied first and up to a proportionally higher load."""
    best = max((_efficiency(u.host) for u in up), default=1.0)

    def weighed(u: HostUsage) -> float:
        return u.load * _efficiency(u.host) / best

    def key(u: HostUsage) -> tuple[float, float, str]:
        cost = sum(index.migration_cost_s(i) for i in u.ordered_ids())
        return weighed(u), cost, u.host.id

    return sorted((u for u in up if weighed(u) < policy.dpm_target_low), key=key)


def _consolidate(
    index: ClusterIndex,
    snapshot: Snapshot,
    policy: ClusterPolicy,
    before: float,
    projected: float,
    trend: float,
    held: frozenset[str] = frozenset(),
) -> DpmPlan:
    moves: list[Move] = []
    actions: list[PowerAction] = []
    notes: list[str] = []
    leaving: set[str] = set()
    tried: set[str] = set(held)
    # moves only shuffle demand between the hosts that stay up: judge it once
    judged = standby_demand_mhz(index, index.up_hosts(), policy)
    ahead = demand_trend_mhz(index, policy, policy.dpm_standby_lookahead)
    if held:
        notes.append(f"woken recently, held on: {', '.join(sorted(held))}")
    while len(actions) < policy.dpm_max_evacuations:
        up = [u for u in index.up_hosts() if u.host.id not in leaving]
        if len(up) <= max(policy.dpm_min_hosts_on, 1):
            notes.append(f"minimum of {policy.dpm_min_hosts_on} hosts on reached")
            break
        candidates = [u for u in _evacuation_order(index, up, policy) if u.host.id not in tried][:MAX_CANDIDATES]
        if not candidates:
            if not actions:
                notes.append("no host below the range, or none can be emptied")
            break
        empty = sum(1 for u in up if not u.instance_ids)
        chosen = None
        for candidate in candidates:
            tried.add(candidate.host.id)
            rest = [u for u in up if u is not candidate]
            if utilisation(rest, trend) > policy.dpm_target_high:
                notes.append(f"{candidate.host.id}: the rest would pass the range's top")
                continue
            if judged + ahead > policy.dpm_target_high * sum(u.host.usable_mhz for u in rest):
                notes.append(
                    f"{candidate.host.id}: the rest would pass the range's top on "
                    f"the last {policy.dpm_standby_window} samples' demand or the "
                    f"next {policy.dpm_standby_lookahead}'s trend"
                )
                continue
            if not candidate.instance_ids and empty <= policy.dpm_reserve_hosts:
                notes.append(f"{candidate.host.id}: kept as one of {policy.dpm_reserve_hosts} hosts in reserve")
                continue
            gone = leaving | {candidate.host.id}
            admission = admission_check(snapshot, policy, index=index, without_hosts=gone)
            if not admission.allowed:
                notes.append(f"{candidate.host.id}: {admission.reason}")
                continue
            planned = _plan_evacuation(index, snapshot, policy, candidate, gone, up)
            if planned is None:
                notes.append(f"{candidate.host.id}: an instance has no valid host")
                continue
            chosen = candidate
            moves += planned
            break
        if chosen is None:
            break
        leaving.add(chosen.host.id)
        actions.append(
            PowerAction(
                chosen.host.id,
                PowerActionKind.STANDBY,
                f"load {chosen.load:.0%} below {policy.dpm_target_low:.0%}; the others take it",
            )
        )
    after = utilisation([u for u in index.up_hosts() if u.host.id not in leaving])
    return DpmPlan(tuple(moves), tuple(actions), before, after, projected, tuple(notes))


def _plan_evacuation(
    index: ClusterIndex,
    snapshot: Snapshot,
    policy: ClusterPolicy,
    host: HostUsage,
    excluded: set[str],
    up: list[HostUsage],
) -> list[Move] | None:
    """Moves emptying `host` onto the other hosts that are `up` (packing, within the range),
    left applied to `index` only if every instance finds a place."""
    source = host.host.id
    moves: list[Move] = []
    # placement looks only at these: a host with many instances is emptied in one pass
    # over the hosts that are up, not one over the whole cluster per instance
    targets = frozenset(u.host.id for u in up) - excluded
    ordered = sorted(host.instance_ids, key=lambda i: (-index.demand[i], i))
    for iid in ordered:
        request = PlacementRequest(
            index.instances[iid],
            exclude_hosts=frozenset(excluded),
            candidate_hosts=targets,
            strategy=PlacementStrategy.PACK,
            max_cpu_load=policy.dpm_target_high,
        )
        result = place(request, snapshot, policy, index)
        if not result.ok:
            for move in reversed(moves):
                index.move(move.instance_id, source)
            return None
        index.move(iid, result.host_id)
        moves.append(
            Move(
                iid,
                source,
                result.host_id,
                MoveReason.EVACUATE,
                cost_s=index.migration_cost_s(iid),
                explanation=f"empty {source} for standby",
            )
        )
    return moves
