"""Wake-on-demand: which standby host to power on when no powered-on host takes a request.

Like vSphere DPM's on-demand power-on: the hosts in standby (and those already waking) go
through placement's filters as if they were on, and the best that passes is woken. One
already on its way up is preferred: it costs no second power-on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from .model import ClusterPolicy, HostPowerState, Snapshot
from .placement import PlacementRequest, PlacementResult, place
from .state import ClusterIndex, index_for

WAKEABLE = frozenset({HostPowerState.STANDBY, HostPowerState.WAKING})


def standby_host_to_wake(
    request: PlacementRequest, snapshot: Snapshot, policy: ClusterPolicy, index: ClusterIndex | None = None
) -> PlacementResult:
    """The standby host to wake for `request` (its `host_id`), or why none would do.

    Meant for a request no powered-on host passes; only hosts in standby or waking are tried.
    """
    index = index if index is not None else index_for(snapshot, policy)
    asleep = frozenset(hid for hid, u in index.usage.items() if u.host.state in WAKEABLE)
    if request.candidate_hosts is not None:
        asleep &= request.candidate_hosts
    if not asleep:
        return PlacementResult(request.instance.id, None, ())
    result = place(replace(request, candidate_hosts=asleep, host_states=WAKEABLE), snapshot, policy, index)
    waking = [hid for hid, _ in result.ranking if index.hosts[hid].state is HostPowerState.WAKING]
    return replace(result, host_id=waking[0]) if waking else result


@dataclass(frozen=True, slots=True)
class WakingPlacement:
    placed: tuple[PlacementResult, ...]  # in request order, on a host that is up or to be woken
    wakes: tuple[str, ...]  # the standby hosts to wake, in order of first need
    unplaced: tuple[PlacementResult, ...]  # no host would do, up or asleep, and why


def place_waking(
    requests: Iterable[PlacementRequest], snapshot: Snapshot, policy: ClusterPolicy, index: ClusterIndex
) -> WakingPlacement:
    """Place the requests one after another, moving each on `index` (a working copy): on a
    powered-on host when one passes, else on a standby host to wake. A host chosen to wake
    counts as waking from then on, so later requests fill it before another is woken."""
    placed: list[PlacementResult] = []
    wakes: list[str] = []
    unplaced: list[PlacementResult] = []
    for request in requests:
        result = place(request, snapshot, policy, index)
        if not result.ok:
            asleep = standby_host_to_wake(request, snapshot, policy, index)
            result = asleep if asleep.ok else _with_asleep_reasons(result, asleep)
            if result.ok and result.host_id not in wakes:
                wakes.append(result.host_id)
                index.set_host_state(result.host_id, HostPowerState.WAKING)
        if result.ok:
            index.move(request.instance.id, result.host_id)
            placed.append(result)
        else:
            unplaced.append(result)
    return WakingPlacement(tuple(placed), tuple(wakes), tuple(unplaced))


def _with_asleep_reasons(result: PlacementResult, asleep: PlacementResult) -> PlacementResult:
    """For a sleeping host, why it would not do even if woken beats "it is in standby"."""
    known = {r.host_id for r in asleep.rejections}
    return replace(result, rejections=tuple(r for r in result.rejections if r.host_id not in known) + asleep.rejections)
