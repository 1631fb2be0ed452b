"""Celery tasks of memory overcommit: the KSM switch, reading a host's KSM / swap into its facts
(hypervisor.hostmem), and the balloon policy's plan for a host.

The balloon policy is a plan over plain data (``plan``, ``changes_on``); beat's run acts on it
through the instance service (compute/beat.py): when a host's free memory falls below ``low_free_pct`` it lowers
the balloon targets of idle instances (mean CPU over the last samples below ``idle_cpu_pct``)
a step at a time toward a floor; when free memory is back above ``high_free_pct`` it gives
back what it took. Every change is an ``instance.set_balloon`` Operation whose InstanceEvent
says why.
"""

import dataclasses
import time
from dataclasses import dataclass

from celery import shared_task
from django.db.models import Avg

import hypervisor as hv
from compute import domain
from compute.choices import KIB_PER_MIB, Action, InstanceState
from compute.models import Host, Instance, InstanceSample
from portal import operations
from portal.choices import OperationStatus
from portal.env import env_float, env_int
from portal.errors import ActionError
from portal.models import Operation
from portal.tasks import run_operation

RECLAIM, RELEASE = "reclaim", "release"
PERCENT = 100


def record_host_memory(host):
    """Read KSM and swap (KSM counters only, over libvirt, on a remote host) into ``host.facts["memory"]``."""
    memory = dataclasses.asdict(hv.host_memory(host.uri))
    Host.objects.filter(pk=host.pk).update(facts={**host.facts, "memory": memory})
    host.facts = {**host.facts, "memory": memory}
    return memory


def changes_on(host, policy, now=None):
    """The balloon changes the policy wants on one host now (node stats read through libvirt)."""
    node = hv.node_stats(host.uri)
    if not host.simulated:
        record_host_memory(host)
    guests = guests_on(host, now or time.time(), policy)
    return plan(node.memory_total_kib // KIB_PER_MIB, node.memory_free_kib // KIB_PER_MIB, guests, policy)


@shared_task(bind=True, name="compute.overcommit_tasks.set_ksm")
def set_ksm(self, op_id):
    def work(op):
        host = Host.objects.get(pk=op.target_id)
        run, settings = op.detail.get("run"), op.detail.get("settings") or {}
        if settings:
            operations.progress(op, 20, f"Setting KSM's node memory parameters on {host.name} through libvirt")
            hv.ksm_tune(host.uri, settings)
        if run is not None:
            operations.progress(op, 50, f"Writing {run} to /sys/kernel/mm/ksm/run on {host.name}")
            hv.ksm_set_run(host.uri, int(run))
        memory = record_host_memory(host)
        tuned = "".join(f", {name}={memory.get('ksm_' + name)}" for name in settings)
        state = f"KSM run={memory['ksm_run']}" if memory.get("ksm_run") is not None else "KSM"
        return f"{state} on {host.name}{tuned}, {memory['ksm_pages_sharing']} pages sharing"

    return run_operation(op_id, work, self.request.id or "")


# --- the balloon policy --------------------------------------------------------------------


@dataclass(frozen=True)
class BalloonPolicy:
    low_free_pct: float = 10.0
    high_free_pct: float = 25.0
    floor_pct: int = 50
    step_pct: int = 10
    idle_cpu_pct: float = 10.0
    idle_window_s: int = 300


def policy_from_env():
    """The policy's settings: NUBES_BALLOON_{LOW_FREE_PCT, HIGH_FREE_PCT, FLOOR_PCT, STEP_PCT,
    IDLE_CPU_PCT, IDLE_WINDOW_S}; a bad value stops with ImproperlyConfigured."""
    default = BalloonPolicy()
    policy = BalloonPolicy(
        low_free_pct=env_float("NUBES_BALLOON_LOW_FREE_PCT", default.low_free_pct, 0),
        high_free_pct=env_float("NUBES_BALLOON_HIGH_FREE_PCT", default.high_free_pct, 0),
        floor_pct=env_int("NUBES_BALLOON_FLOOR_PCT", default.floor_pct, 1, PERCENT),
        step_pct=env_int("NUBES_BALLOON_STEP_PCT", default.step_pct, 1, PERCENT),
        idle_cpu_pct=env_float("NUBES_BALLOON_IDLE_CPU_PCT", default.idle_cpu_pct, 0),
        idle_window_s=env_int("NUBES_BALLOON_IDLE_WINDOW_S", default.idle_window_s, 1),
    )
    if policy.high_free_pct < policy.low_free_pct:
        raise ActionError("NUBES_BALLOON_HIGH_FREE_PCT must not be below NUBES_BALLOON_LOW_FREE_PCT.")
    return policy


def balloon_interval():
    """Seconds between runs of the balloon policy (NUBES_BALLOON_INTERVAL, default 30)."""
    return env_int("NUBES_BALLOON_INTERVAL", 30, 1)


@dataclass(frozen=True)
class Guest:
    instance_id: int
    ram_mb: int
    balloon_mb: int  # the current target (= ram_mb when never ballooned)
    cpu_pct: float | None  # mean over the idle window; None without samples
    owned: bool  # the policy set the current target (only those are given back)


@dataclass(frozen=True)
class Change:
    instance_id: int
    memory_mb: int
    policy: str
    reason: str


def plan(total_mb, free_mb, guests, policy):
    """The balloon changes for one host: reclaim from idle guests while free memory is below the
    low mark (the most idle first), release to the policy's guests while it stays above the high
    mark. Pure: unit-tested on data."""
    if total_mb <= 0:
        return []
    free_pct = PERCENT * free_mb / total_mb
    changes = []
    if free_pct < policy.low_free_pct:
        need = policy.low_free_pct * total_mb / PERCENT - free_mb
        idle = [g for g in guests if g.cpu_pct is not None and g.cpu_pct < policy.idle_cpu_pct]
        for guest in sorted(idle, key=lambda g: (g.cpu_pct, -g.ram_mb)):
            if need <= 0:
                break
            floor = max(domain.MIN_BALLOON_MB, guest.ram_mb * policy.floor_pct // PERCENT)
            target = max(floor, guest.balloon_mb - guest.ram_mb * policy.step_pct // PERCENT)
            if target < guest.balloon_mb:
                need -= guest.balloon_mb - target
                changes.append(
                    Change(
                        guest.instance_id,
                        target,
                        RECLAIM,
                        f"host free {free_pct:.1f}% < {policy.low_free_pct:g}%; guest idle "
                        f"({guest.cpu_pct:.1f}% CPU): {guest.balloon_mb} -> {target} MB",
                    )
                )
    elif free_pct > policy.high_free_pct:
        spare = free_mb - policy.high_free_pct * total_mb / PERCENT
        squeezed = [g for g in guests if g.owned and g.balloon_mb < g.ram_mb]
        for guest in sorted(squeezed, key=lambda g: g.balloon_mb / g.ram_mb):  # the most squeezed first
            target = min(guest.ram_mb, guest.balloon_mb + guest.ram_mb * policy.step_pct // PERCENT)
            if target - guest.balloon_mb > spare:
                break
            spare -= target - guest.balloon_mb
            changes.append(
                Change(
                    guest.instance_id,
                    target,
                    RELEASE,
                    f"host free {free_pct:.1f}% > {policy.high_free_pct:g}%: {guest.balloon_mb} -> {target} MB",
                )
            )
    return changes


def guests_on(host, now, policy):
    """The host's running instances as the policy sees them (samples and Operations: two queries
    plus one per ballooned instance)."""
    instances = list(Instance.objects.filter(host=host, state=InstanceState.ACTIVE))
    since = int(now) - policy.idle_window_s
    cpu = dict(
        InstanceSample.objects.filter(instance__in=instances, resolution=0, ts__gte=since)
        .values("instance")
        .annotate(cpu=Avg("cpu_pct"))
        .values_list("instance", "cpu")
    )
    return [
        Guest(
            instance_id=i.pk,
            ram_mb=i.ram_mb,
            balloon_mb=i.balloon_mb or i.ram_mb,
            cpu_pct=cpu.get(i.pk),
            owned=bool(i.balloon_mb and i.balloon_mb < i.ram_mb and _set_by_policy(i)),
        )
        for i in instances
    ]


def _set_by_policy(instance):
    detail = (
        Operation.objects.filter(
            target_type="compute.instance",
            target_id=str(instance.pk),
            kind=f"instance.{Action.SET_BALLOON}",
            status=OperationStatus.SUCCEEDED,
        )
        .order_by("-created", "-pk")
        .values_list("detail", flat=True)
        .first()
    )
    return bool(detail and detail.get("policy"))
