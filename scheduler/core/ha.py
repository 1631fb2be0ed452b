"""HA: admission control, restart plans after a fenced host failure, VM restart limits."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from .model import (
    ClusterPolicy,
    HaAdmissionPolicy,
    HaPriority,
    HostPowerState,
    InstanceState,
    Move,
    MoveReason,
    Snapshot,
)
from .placement import PlacementRequest, PlacementResult
from .state import ClusterIndex, index_for
from .wake import place_waking

PERCENT = 100.0


class FenceStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"  # the power driver confirmed the host is off
    FAILED = "failed"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class FenceOutcome:
    host_id: str
    status: FenceStatus
    method: str = ""
    at: float = 0.0


class NotFenced(Exception):
    """A restart was asked for a host that is not known to be off: shared disks forbid it."""


def require_fenced(host_id: str, fence: FenceOutcome | None) -> None:
    """The precondition of every HA restart: a successful fence of that very host."""
    if fence is None:
        raise NotFenced(f"host {host_id} has not been fenced; its instances may still run")
    if fence.host_id != host_id:
        raise NotFenced(f"the fence outcome is for host {fence.host_id}, not {host_id}")
    if fence.status is not FenceStatus.SUCCEEDED:
        raise NotFenced(f"fencing host {host_id} {fence.status}; no restart elsewhere")


@dataclass(frozen=True, slots=True)
class AdmissionResult:
    allowed: bool
    reason: str
    cpu_needed_mhz: float
    cpu_limit_mhz: float
    memory_needed_mb: float
    memory_limit_mb: float


def _cpu_claim(inst: InstanceState, policy: ClusterPolicy) -> float:
    return max(inst.reservation_mhz, policy.ha_min_cpu_mhz * inst.vcpus)


def admission_check(
    snapshot: Snapshot,
    policy: ClusterPolicy,
    instance: InstanceState | None = None,
    *,
    index: ClusterIndex | None = None,
    without_hosts: Iterable[str] = (),
) -> AdmissionResult:
    """Would the cluster still keep its failover capacity with `instance` started
    (and with `without_hosts` gone, e.g. put in standby by DPM)?"""
    index = index if index is not None else index_for(snapshot, policy)
    gone = set(without_hosts)
    up = [u for u in index.up_hosts() if u.host.id not in gone]
    cpu_caps = sorted((u.host.usable_mhz for u in up), reverse=True)
    mem_caps = sorted((u.host.usable_memory_mb for u in up), reverse=True)
    cpu_used = sum(_cpu_claim(index.instances[i], policy) for u in index.up_hosts() for i in u.ordered_ids())
    mem_used = sum(u.memory_mb for u in index.up_hosts())
    if instance is not None:
        cpu_used += _cpu_claim(instance, policy)
        mem_used += instance.memory_mb
    cpu_total, mem_total = sum(cpu_caps), sum(mem_caps)
    if not policy.ha_enabled or policy.ha_admission is HaAdmissionPolicy.DISABLED:
        return AdmissionResult(True, "admission control disabled", cpu_used, cpu_total, mem_used, mem_total)
    if policy.ha_admission is HaAdmissionPolicy.HOST_FAILURES:
        n = policy.ha_host_failures
        if n >= len(up):
            return AdmissionResult(
                False, f"{len(up)} hosts up cannot tolerate {n} host failures", cpu_used, 0.0, mem_used, 0.0
            )
        cpu_limit = cpu_total - sum(cpu_caps[:n])
        mem_limit = mem_total - sum(mem_caps[:n])
        keep = f"room for {n} host failure{'s' if n != 1 else ''}"
    else:
        cpu_limit = cpu_total * (1 - policy.ha_cpu_percent / PERCENT)
        mem_limit = mem_total * (1 - policy.ha_memory_percent / PERCENT)
        keep = f"{policy.ha_cpu_percent:g} % CPU and {policy.ha_memory_percent:g} % memory free"
    if cpu_used > cpu_limit:
        return AdmissionResult(
            False,
            f"CPU claims {cpu_used:.0f} MHz would exceed {cpu_limit:.0f} MHz, keeping {keep}",
            cpu_used,
            cpu_limit,
            mem_used,
            mem_limit,
        )
    if mem_used > mem_limit:
        return AdmissionResult(
            False,
            f"memory {mem_used:.0f} MB would exceed {mem_limit:.0f} MB, keeping {keep}",
            cpu_used,
            cpu_limit,
            mem_used,
            mem_limit,
        )
    return AdmissionResult(True, f"within failover capacity ({keep})", cpu_used, cpu_limit, mem_used, mem_limit)


@dataclass(frozen=True, slots=True)
class RestartPlan:
    failed_host: str
    restarts: tuple[Move, ...]  # in restart order
    unplaced: tuple[PlacementResult, ...]  # HA instances with no valid host, and why
    not_protected: tuple[str, ...]  # instances with HA disabled
    wakes: tuple[str, ...] = ()  # standby hosts to wake first, in priority order


def restart_order(instances: Iterable[InstanceState]) -> list[InstanceState]:
    """Highest priority first; within a priority the largest first (they are hardest to fit)."""
    return sorted(instances, key=lambda i: (-int(i.ha_priority), -i.memory_mb, -i.vcpus, i.id))


def plan_restarts(
    failed_host: str, snapshot: Snapshot, policy: ClusterPolicy, fence: FenceOutcome | None
) -> RestartPlan:
    """Where to restart the HA instances of a failed host. Raises NotFenced unless fenced.

    An instance no powered-on host takes goes to a standby host to wake (`wakes`)."""
    require_fenced(failed_host, fence)
    index = index_for(snapshot, policy).copy()
    index.set_host_state(failed_host, HostPowerState.DOWN)
    victims = [index.instances[i] for i in sorted(index.usage[failed_host].instance_ids)]
    for inst in victims:
        index.move(inst.id, None)
    protected = restart_order(i for i in victims if i.ha_priority is not HaPriority.DISABLED)
    gone = frozenset({failed_host})
    plan = place_waking([PlacementRequest(inst, exclude_hosts=gone) for inst in protected], snapshot, policy, index)
    restarts = tuple(_restart(index.instances[r.instance_id], failed_host, r.host_id, plan.wakes) for r in plan.placed)
    not_protected = tuple(i.id for i in victims if i.ha_priority is HaPriority.DISABLED)
    return RestartPlan(failed_host, restarts, plan.unplaced, not_protected, plan.wakes)


def _restart(inst: InstanceState, failed_host: str, target: str, wakes: tuple[str, ...]) -> Move:
    why = f"HA restart, priority {inst.ha_priority.name}"
    if target in wakes:
        why += ", on a host woken from standby"
    return Move(inst.id, failed_host, target, MoveReason.RESTART, explanation=why)


def restart_allowed(restart_times: Iterable[float], now: float, policy: ClusterPolicy) -> bool:
    """VM-level HA: fewer than `restart_limit` restarts within the last `restart_window_s`."""
    horizon = now - policy.restart_window_s
    return sum(1 for t in restart_times if t > horizon) < policy.restart_limit
