"""Wake-on-demand: which standby host to power on when no powered-on host takes a request.

Like vSphere DPM's on-demand power-on: the hosts in standby (and those already waking) go
through placement's filters as if they were on, and the best that passes is woken. One
already on its way up is preferred: it costs no second power-on.
"""

from __future__ import annotations

from dataclasses import replace

from .model import ClusterPolicy, HostPowerState, Snapshot
from .placement import PlacementRequest, PlacementResult, place
from .state import ClusterIndex, index_for

WAKEABLE = frozenset({HostPowerState.STANDBY, HostPowerState.WAKING})


def standby_host_to_wake(request: PlacementRequest, snapshot: Snapshot, policy: ClusterPolicy,
                         index: ClusterIndex | None = None) -> PlacementResult:
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
