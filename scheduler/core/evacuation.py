"""Evacuation (maintenance mode): where a host's instances go, and which standby hosts to
wake when the powered-on hosts cannot take them all."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .model import ClusterPolicy, HostPowerState, Move, MoveReason, Snapshot
from .placement import PlacementRequest, PlacementResult
from .state import index_for
from .wake import place_waking


@dataclass(frozen=True, slots=True)
class EvacuationPlan:
    host_id: str
    moves: tuple[Move, ...]  # largest first, as compute evacuates
    wakes: tuple[str, ...]  # standby hosts to wake before the moves
    unplaced: tuple[PlacementResult, ...]  # instances no host would take, and why


def plan_evacuation(
    host_id: str, snapshot: Snapshot, policy: ClusterPolicy, instance_ids: Iterable[str] | None = None
) -> EvacuationPlan:
    """Move the host's instances (or only `instance_ids`) off it, the largest first."""
    index = index_for(snapshot, policy).copy()
    index.set_host_state(host_id, HostPowerState.MAINTENANCE)
    wanted = set(instance_ids) if instance_ids is not None else None
    leaving = sorted(
        (index.instances[i] for i in index.usage[host_id].instance_ids if wanted is None or i in wanted),
        key=lambda i: (-i.memory_mb, i.id),
    )
    gone = frozenset({host_id})
    plan = place_waking([PlacementRequest(inst, exclude_hosts=gone) for inst in leaving], snapshot, policy, index)
    moves = tuple(
        Move(
            r.instance_id,
            host_id,
            r.host_id,
            MoveReason.EVACUATE,
            explanation="evacuation" + (", to a host woken from standby" if r.host_id in plan.wakes else ""),
        )
        for r in plan.placed
    )
    return EvacuationPlan(host_id, moves, plan.wakes, plan.unplaced)
