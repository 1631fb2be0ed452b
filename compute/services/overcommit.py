"""Memory overcommit: what a host promised its instances against what it has (the staff host
page and the host API's ``memory_overcommit``) and KSM on the host. The balloon policy that beat
runs is compute.tasks.overcommit.
"""

from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce

import hypervisor as hv
from compute.choices import PLACED_STATES, InstanceState
from compute.tasks import overcommit as overcommit_tasks
from portal import audit, operations
from portal.errors import ActionError, Conflict, NotPermitted

KSM_RUN_VALUES = (0, 1, 2)  # stop, run, stop and unmerge (/sys/kernel/mm/ksm/run)
KSM_LIMITS = hv.KSM_LIMITS  # the scanning settings libvirt sets, with their ranges
KSM_FACTS = ("ksm_available", "ksm_run", "ksm_pages_shared", "ksm_pages_sharing", "ksm_saved_kib") + tuple(
    f"ksm_{name}" for name in KSM_LIMITS
)
RUNNING_STATES = (InstanceState.ACTIVE, InstanceState.PAUSED)


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
