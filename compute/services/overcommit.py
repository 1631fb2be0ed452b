"""Memory overcommit: what a host promised its instances against what it has (the staff host
page and the host API's ``memory_overcommit``), KSM on the host, and the balloon policy.

The balloon policy is a plan over plain data (``plan``) and one verb that acts through
services (``apply``): when a host's free memory falls below ``low_free_pct`` it lowers the
balloon targets of idle instances (mean CPU over the last samples below ``idle_cpu_pct``)
a step at a time toward a floor; when free memory is back above ``high_free_pct`` it gives
back what it took. Every change is an ``instance.set_balloon`` Operation whose InstanceEvent
says why. The beat task that runs it is compute.overcommit_tasks.balloon_policy.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Avg, Q, Sum
from django.db.models.functions import Coalesce

import hypervisor as hv
from compute import domain
from compute.choices import PLACED_STATES, Action, InstanceState
from compute.models import Instance, InstanceSample
from compute.services import instances as services
from compute.tasks import overcommit as overcommit_tasks
from portal import audit, operations
from portal.choices import OperationStatus
from portal.env import env_float, env_int
from portal.errors import ActionError, Conflict, NotPermitted
from portal.models import Operation

KSM_RUN_VALUES = (0, 1, 2)  # stop, run, stop and unmerge (/sys/kernel/mm/ksm/run)
KSM_LIMITS = hv.KSM_LIMITS  # the scanning settings libvirt sets, with their ranges
KSM_FACTS = ("ksm_available", "ksm_run", "ksm_pages_shared", "ksm_pages_sharing", "ksm_saved_kib") + tuple(
    f"ksm_{name}" for name in KSM_LIMITS
)
RUNNING_STATES = (InstanceState.ACTIVE, InstanceState.PAUSED)
RECLAIM, RELEASE = "reclaim", "release"
PERCENT = 100


# --- the overcommit view (database only) ---------------------------------------------------


def with_memory_use(queryset):
    """Hosts annotated with what their instances hold, in one query (the API's list)."""
    placed = Q(instances__state__in=PLACED_STATES)
    running = Q(instances__state__in=RUNNING_STATES)
    return queryset.annotate(
        allocated_ram_mb=Sum("instances__ram_mb", filter=placed),
        running_ram_mb=Sum("instances__ram_mb", filter=running),
        balloon_target_mb=Sum(Coalesce("instances__balloon_mb", "instances__ram_mb"), filter=running),
    )


def _memory_use(host):
    if hasattr(host, "allocated_ram_mb"):
        return host.allocated_ram_mb, host.running_ram_mb, host.balloon_target_mb
    annotated = with_memory_use(type(host).objects.filter(pk=host.pk)).get()
    return annotated.allocated_ram_mb, annotated.running_ram_mb, annotated.balloon_target_mb


def summary(host):
    """What the host has promised (instance RAM, balloon targets) against what it has, plus
    KSM and swap as last read from the host (``facts["memory"]``, "not readable" elsewhere)."""
    allocated, running, ballooned = (value or 0 for value in _memory_use(host))
    usable = max(host.memory_mb - host.reserved_memory_mb, 0)
    memory = host.facts.get("memory") or {"readable": False, "note": "not read yet (refresh the host)"}
    return {
        "host_ram_mb": host.memory_mb,
        "reserved_mb": host.reserved_memory_mb,
        "allocated_mb": allocated,
        "running_mb": running,
        "balloon_target_mb": ballooned,
        "reclaimed_by_balloons_mb": running - ballooned,
        "ratio": round(allocated / usable, 2) if usable else None,
        "cluster_ratio_limit": host.cluster.ram_overcommit,
        "overcommitted": allocated > usable,
        "overcommitted_mb": max(allocated - usable, 0),
        "ksm": {key: memory.get(key) for key in KSM_FACTS},
        "swap_total_kib": memory.get("swap_total_kib"),
        "swap_free_kib": memory.get("swap_free_kib"),
        "readable": bool(memory.get("readable")),
        "note": memory.get("note", ""),
    }


def ballooned_instances(host):
    """Running instances of the host whose balloon target is below their RAM."""
    return [
        i
        for i in host.instances.filter(state__in=RUNNING_STATES).select_related("project").order_by("name")
        if i.balloon_mb and i.balloon_mb < i.ram_mb
    ]


# --- KSM -----------------------------------------------------------------------------------


def set_ksm(user, host, run=None, request=None, **settings):
    """Start (1), stop (0) or stop-and-unmerge (2) KSM on a host whose /sys the portal reads,
    and/or tune its scanning (``pages_to_scan``, ``sleep_millisecs``, ``merge_across_nodes``) on
    any real host (libvirt's node memory parameters, also over a remote connection)."""

    if user is None or not user.is_staff:
        raise NotPermitted("Only cloud admins switch KSM.")
    settings = {name: value for name, value in settings.items() if value is not None}
    if run is None and not settings:
        raise ActionError("Give run or a KSM setting to change.", field="run")
    if run is not None and run not in KSM_RUN_VALUES:
        raise ActionError(f"run is one of {', '.join(map(str, KSM_RUN_VALUES))}.", field="run")
    for name, value in settings.items():
        low, high = KSM_LIMITS.get(name, (0, -1))
        if not isinstance(value, int) or not low <= value <= high:
            raise ActionError(f"{name} is an integer from {low} to {high}.", field=name)
    memory = host.facts.get("memory") or {}
    if not memory.get("readable") or not memory.get("ksm_available"):
        raise Conflict(f"KSM on {host.name} is not readable here: {memory.get('note') or 'refresh the host first'}.")
    if run is not None and memory.get("ksm_run") is None:
        raise Conflict(
            f"KSM on {host.name} is read over libvirt, whose node memory parameters have no run switch: "
            "switch it on the host itself, or pause merging with pages_to_scan=0 (merged pages stay merged)."
        )
    detail = {"run": run, "settings": settings}
    with transaction.atomic():
        op = operations.begin("host.set_ksm", host, user=user, project=None, detail=detail)
        operations.send_after_commit(overcommit_tasks.set_ksm, op)
    audit.record(user, "host.set_ksm", host, request=request, **detail)
    return op


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


def apply(changes):
    """Queue each change as a system set_balloon; an instance busy with another action is skipped
    (the next run sees it again). Returns the Operations started."""
    started = []
    instances = Instance.objects.select_related("project", "host").in_bulk([c.instance_id for c in changes])
    for change in changes:
        try:
            started.append(
                services.policy_balloon(instances[change.instance_id], change.memory_mb, change.policy, change.reason)
            )
        except (operations.TargetBusy, Conflict):
            continue
    return started
