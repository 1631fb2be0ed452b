"""The verbs of compute: check the rules, take quota, write the Operation, queue the task.

Views and the API call these and nothing below them. Hypervisor work happens in the tasks;
the domain spec they define (instance -> DomainSpec) is in compute/domain.py, below both.
"""

import secrets

from django.db import transaction

from compute import hooks
from compute.choices import (
    ALLOWED_FROM,
    IO_ERROR_PAUSE,
    SHUTDOWN_TIMEOUT_S,
    STOP_TIMEOUT_MAX_S,
    VNC_PASSWORD_BYTES,
    Action,
    CpuPolicy,
    EventSource,
    HostState,
    ImageState,
    InstanceState,
    RebootKind,
)
from compute.domain import DIMM_ALIGN_MB, MIN_BALLOON_MB, max_vcpus, record_event
from compute.models import Flavor, HaPriority, Host, Image, Instance
from compute.services import evacuation, placement
from compute.tasks import hosts as host_tasks
from compute.tasks import instances as tasks
from portal import audit, operations, quotas
from portal.choices import Role
from portal.errors import ActionError, Conflict, NotPermitted

# --- hosts ---------------------------------------------------------------------------------


def register_host(user, *, name, uri, cluster, credentials_path="", request=None):
    """Add a host (down until its facts are read) and queue the first refresh."""
    host = Host(
        name=name,
        uri=uri,
        cluster=cluster,
        credentials_path=credentials_path,
        state=HostState.DOWN,
        state_reason="Facts not read yet",
    )
    host.full_clean()
    with transaction.atomic():
        host.save()
        op = _begin_host_refresh(user, host, "host.register")
    audit.record(user, "host.register", host, request=request, uri=uri)
    return host, op


def refresh_host(user, host, request=None):
    with transaction.atomic():
        op = _begin_host_refresh(user, host, "host.refresh")
    audit.record(user, "host.refresh", host, request=request)
    return op


def _begin_host_refresh(user, host, kind):
    op = operations.begin(kind, host, user=user, project=None)
    operations.send_after_commit(host_tasks.refresh_host, op)
    return op


ADMIN_HOST_STATES = (HostState.UP, HostState.DOWN, HostState.MAINTENANCE, HostState.STANDBY)


def set_host_state(user, host, state, reason="", request=None):
    """An admin's state change. Maintenance and standby take no new instances; an up host put
    into maintenance is evacuated (evacuation.evacuate_host: every instance migrates off,
    a few at a time, to hosts the scheduler picks)."""
    if state not in ADMIN_HOST_STATES:
        raise ActionError(f"An admin sets a host to one of {', '.join(ADMIN_HOST_STATES)}.", field="state")
    if state == HostState.UP and not host.refreshed:
        raise Conflict("Read the host's facts (refresh) before bringing it up.")
    if state == HostState.MAINTENANCE and host.state == HostState.UP:
        evacuation.evacuate_host(host, user=user, request=request)
        reason = reason or "Evacuating"
    Host.objects.filter(pk=host.pk).update(state=state, state_reason=reason[:500])
    host.refresh_from_db()
    audit.record(user, "host.set_state", host, request=request, state=state, reason=reason)
    return host


# --- instances: create ---------------------------------------------------------------------


def _writable(user, project):
    if project.role_of(user) not in (Role.ADMIN, Role.MEMBER):
        raise NotPermitted("Readers cannot change instances.")


def _is_admin(user, project):
    return user.is_staff or project.role_of(user) == Role.ADMIN


def check_launch(project, flavor, image, key_pair):
    """The rules a launch obeys (shared by the API and the form): ActionError keyed by field."""
    if not Flavor.objects.usable_in(project).filter(pk=flavor.pk).exists():
        raise ActionError("This flavor is not available to the project.", field="flavor")
    if not Image.objects.usable_in(project).filter(pk=image.pk).exists():
        raise ActionError("This image is not available to the project.", field="image")
    if image.state != ImageState.ACTIVE:
        raise ActionError(f"Image {image.name} is {image.state}, not active.", field="image")
    needed_disk = max(image.min_disk_gb, image.virtual_size_gb)
    if flavor.disk_gb < needed_disk:
        raise ActionError(
            f"Image {image.name} needs a root disk of {needed_disk} GB; flavor {flavor.name} has {flavor.disk_gb} GB.",
            field="flavor",
        )
    if flavor.ram_mb < image.min_ram_mb:
        raise ActionError(
            f"Image {image.name} needs {image.min_ram_mb} MB RAM; flavor {flavor.name} has {flavor.ram_mb} MB.",
            field="flavor",
        )
    if key_pair is not None and key_pair.project_id != project.pk:
        raise ActionError("This key pair belongs to another project.", field="key_pair")


def create_instance(
    user,
    project,
    *,
    name,
    flavor,
    image,
    key_pair=None,
    user_data="",
    hints=None,
    networks=None,
    security_groups=None,
    group=None,
    request=None,
):
    """Validate, place (a clear error if no host fits), take quota, queue the build.
    `networks`: ids of networks to attach, one port each (made by the network app's hook);
    `security_groups`: ids of the project's groups for those ports (none: the project's default);
    `group`: a placement.GroupHint of the server group it joins (the caller records the joining)."""

    _writable(user, project)
    check_launch(project, flavor, image, key_pair)
    if hints and not user.is_staff:
        raise NotPermitted("Only cloud admins choose hosts or clusters.")
    with transaction.atomic():
        # Placement and the new row in one transaction under the cluster's lock: host capacity
        # is claimed atomically (concurrent creates queue here for a few milliseconds).
        placement.lock_clusters(hints)
        try:
            host, waking = placement.choose_host(flavor, project, hints, pool=image.pool, group=group), False
        except placement.NoValidHost:
            # DPM wake-on-demand: a standby host that fits is woken by the create task.
            host, waking = placement.host_to_wake(flavor, hints, pool=image.pool, group=group), True
            if host is None:
                raise
        wake = host if waking else hooks.host_to_wake_for_admission(flavor, host.cluster)
        try:
            check_admission(flavor, host, waking=wake)
        except ActionError as exc:
            refusal = exc  # raised once this transaction commits the refusal's HA event
        else:
            refusal = None
            ports = (list(networks or ()), list(security_groups or ()))
            instance, op = _new_instance(user, project, host, wake, name, flavor, image, key_pair, user_data, ports)
    if refusal is not None:
        raise refusal
    audit.record(user, "instance.create", instance, request=request, host=host.name)
    return instance, op


def _new_instance(user, project, host, wake, name, flavor, image, key_pair, user_data, ports):
    """The new instance's row, quota, ports and create Operation (inside create_instance's lock).
    ``wake``: a standby host the create task wakes first (the instance's own host when it is
    placed there; another when only its capacity lets HA admission control admit the create)."""
    detail = {"host": host.name}
    if wake is not None:
        detail.update(wake_host=wake.pk, wake_host_name=wake.name)
    instance = Instance(
        project=project,
        name=name,
        flavor=flavor,
        image=image,
        key_pair=key_pair,
        user_data=user_data,
        host=host,
        vcpus=flavor.vcpus,
        ram_mb=flavor.ram_mb,
        disk_gb=flavor.disk_gb,
        state=InstanceState.BUILDING,
        created_by=user if user.is_authenticated else None,
    )
    instance.set_vnc_password(secrets.token_urlsafe(VNC_PASSWORD_BYTES))
    instance.full_clean()
    quotas.take(project, instances=1, vcpus=flavor.vcpus, ram_mb=flavor.ram_mb, disk_gb=flavor.disk_gb)
    instance.quota_held = True
    instance.save()
    hooks.make_ports(user, instance, *ports)  # (network ids, group ids); their realising tasks run before the build
    op = operations.begin(f"instance.{Action.CREATE}", instance, user=user, project=project, detail=detail)
    where = host.name
    if wake is not None:
        where += ", waking it from standby" if wake == host else f", waking {wake.name} from standby for HA capacity"
    record_event(instance, EventSource.ACTION, "create", f"placed on {where}", op)
    operations.send_after_commit(tasks.create_instance, op)
    return instance, op


# --- instances: actions --------------------------------------------------------------------


def _guard(user, instance, action):
    """Role, lock, one-at-a-time and state checks, in that order."""
    _writable(user, instance.project)
    if instance.locked and not _is_admin(user, instance.project):
        raise Conflict(f"Instance {instance.name} is locked; only project admins act on it.")
    running = operations.active_on(instance)
    if running is not None:
        raise operations.TargetBusy(running)
    if instance.state in (InstanceState.DELETING, InstanceState.DELETED):
        raise Conflict(f"Instance {instance.name} is {instance.state}.")
    allowed = ALLOWED_FROM.get(action)
    if allowed is not None and instance.state not in allowed:
        states = ", ".join(allowed)
        raise Conflict(f"Cannot {action} instance {instance.name} while it is {instance.state} (needs {states}).")


guard = _guard  # the checks every instance action passes (compute.services.images' create_from_instance too)


def _queue(user, instance, action, detail=None, request=None, **fields):
    with transaction.atomic():
        op = operations.begin(f"instance.{action}", instance, user=user, project=instance.project, detail=detail or {})
        if fields:
            Instance.objects.filter(pk=instance.pk).update(**fields)
            for name, value in fields.items():
                setattr(instance, name, value)
        record_event(instance, EventSource.ACTION, action, _describe(detail), op)
        operations.dispatch(tasks.instance_action, op)
    audit.record(user, f"instance.{action}", instance, request=request, **(detail or {}))
    return op


def _describe(detail):
    return ", ".join(f"{key}={value}" for key, value in (detail or {}).items())


SIMPLE_ACTIONS = (Action.START, Action.SUSPEND, Action.RESUME, Action.PAUSE, Action.UNPAUSE)


def act(user, instance, action, request=None):
    """start / suspend / resume / pause / unpause."""
    if action not in SIMPLE_ACTIONS:
        raise ActionError(f"Unknown action {action!r}.")
    _guard(user, instance, action)
    detail = None
    if action == Action.START:
        # DPM wake-on-demand: when only a standby host's capacity keeps the failover room
        # admission control asks for, the start wakes that host first (its Operation shows it).
        wake = hooks.host_to_wake_for_admission(instance, instance.host.cluster)
        check_admission(instance, instance.host, waking=wake)
        if wake is not None:
            detail = {"wake_host": wake.pk, "wake_host_name": wake.name}
    return _queue(user, instance, action, detail=detail, request=request)


HA_RESTARTABLE = (InstanceState.SHUTOFF, InstanceState.ERROR)


def restart_after_failure(instance, reason):
    """Start an instance that stopped or crashed without Nubes asking (the scheduler's VM-level
    HA decides when). A system action: no user, no admission check (HA capacity is what
    admission control keeps free)."""
    running = operations.active_on(instance)
    if running is not None:
        raise operations.TargetBusy(running)
    if instance.state not in HA_RESTARTABLE:
        raise Conflict(f"Instance {instance.name} is {instance.state}; HA restarts only a stopped or crashed one.")
    return _queue(None, instance, Action.START, {"ha": True, "reason": reason[:255]})


def reset_after_hang(instance, reason):
    """Hard-reset a running instance whose guest hangs (the scheduler's VM-level HA decides when:
    its guest agent stopped answering while the domain runs). A system action, like the restart
    after a crash."""
    running = operations.active_on(instance)
    if running is not None:
        raise operations.TargetBusy(running)
    if instance.state != InstanceState.ACTIVE:
        raise Conflict(f"Instance {instance.name} is {instance.state}; HA resets only a running one.")
    return _queue(None, instance, Action.REBOOT, {"kind": RebootKind.HARD, "ha": True, "reason": reason[:255]})


def resume_after_io_error(instance, reason):
    """Unpause an instance QEMU paused on a storage I/O error, once that storage answers again
    (storage decides when). A system action; a no-op when it is no longer paused that way."""
    if instance.state != InstanceState.PAUSED or not instance.state_reason.startswith(IO_ERROR_PAUSE):
        return None
    running = operations.active_on(instance)
    if running is not None:
        raise operations.TargetBusy(running)
    return _queue(None, instance, Action.UNPAUSE, {"reason": reason[:255]})


def policy_balloon(instance, memory_mb, policy, reason):
    """The balloon policy's change of an instance's balloon target (compute.overcommit): a
    system action, one at a time like any other; ``policy`` is "reclaim" or "release"."""
    running = operations.active_on(instance)
    if running is not None:
        raise operations.TargetBusy(running)
    if instance.state != InstanceState.ACTIVE:
        raise Conflict(f"Instance {instance.name} is {instance.state}; the balloon policy moves running ones only.")
    return _queue(
        None, instance, Action.SET_BALLOON, {"memory_mb": memory_mb, "policy": policy, "reason": reason[:200]}
    )


def check_admission(instance_or_flavor, host, waking=False):
    """HA admission control (the scheduler's): refuses, with the reason, what would eat the
    cluster's failover capacity. ``waking``: a standby host woken for this request (counted as up)."""
    if host is not None:
        hooks.check_admission(instance_or_flavor, host.cluster, waking=waking or None)


def stop(user, instance, *, timeout=SHUTDOWN_TIMEOUT_S, force=False, request=None):
    """Graceful power-off that becomes a forced one after ``timeout`` seconds (or at once)."""
    if not 0 <= timeout <= STOP_TIMEOUT_MAX_S:
        raise ActionError(f"timeout is 0 to {STOP_TIMEOUT_MAX_S} seconds.", field="timeout")
    _guard(user, instance, Action.STOP)
    return _queue(user, instance, Action.STOP, {"timeout": timeout, "force": bool(force)}, request)


def reboot(user, instance, *, kind=RebootKind.SOFT, request=None):
    if kind not in RebootKind.values:
        raise ActionError(f"A reboot is {' or '.join(RebootKind.values)}.", field="kind")
    _guard(user, instance, Action.REBOOT)
    return _queue(user, instance, Action.REBOOT, {"kind": kind}, request)


def resize(user, instance, flavor, request=None):
    """Live where the domain allows it (more vCPUs within its hotplug maximum, memory within
    its maximum), otherwise cold: the instance must be shut off first."""
    _guard(user, instance, Action.RESIZE)
    if not Flavor.objects.usable_in(instance.project).filter(pk=flavor.pk).exists():
        raise ActionError("This flavor is not available to the project.", field="flavor")
    if flavor.pk == instance.flavor_id:
        raise ActionError("The instance already has this flavor.", field="flavor")
    if flavor.disk_gb < instance.disk_gb:
        raise ActionError("A root disk cannot shrink.", field="flavor")
    if flavor.disk_gb > instance.disk_gb:
        hooks.check_root_disk(instance, "grow the root disk of")
    live = can_resize_live(instance, flavor)
    if not live and instance.state != InstanceState.SHUTOFF:
        raise Conflict(f"Resizing to {flavor.name} needs a cold resize: stop the instance first.")
    placement.check_fits(instance, flavor)
    delta = {
        "vcpus": flavor.vcpus - instance.vcpus,
        "ram_mb": flavor.ram_mb - instance.ram_mb,
        "disk_gb": flavor.disk_gb - instance.disk_gb,
    }

    with transaction.atomic():
        quotas.take(instance.project, **{k: v for k, v in delta.items() if v > 0})
        detail = {"flavor": flavor.pk, "flavor_name": flavor.name, "live": live, "delta": delta}
        op = operations.begin(f"instance.{Action.RESIZE}", instance, user=user, project=instance.project, detail=detail)
        record_event(
            instance, EventSource.ACTION, Action.RESIZE, f"to {flavor.name} ({'live' if live else 'cold'})", op
        )
        operations.dispatch(tasks.instance_action, op)  # run in place inside run_inline (a service's resize)
    audit.record(user, "instance.resize", instance, request=request, flavor=flavor.name, live=live)
    return op


def can_resize_live(instance, flavor):
    if instance.state != InstanceState.ACTIVE:
        return False
    same_shape = (
        flavor.cpu_policy == instance.flavor.cpu_policy == CpuPolicy.SHARED
        and flavor.numa_nodes == instance.flavor.numa_nodes == 1
        and flavor.disk_gb == instance.disk_gb
    )
    return (
        same_shape
        and flavor.vcpus <= max_vcpus(instance)
        and (flavor.ram_mb <= instance.ram_mb or memory_hotpluggable(instance, flavor.ram_mb))
    )


def memory_hotpluggable(instance, ram_mb):
    """Growing to ``ram_mb`` is one DIMM within the flavor's hotplug ceiling (max_ram_mb)."""
    flavor = instance.flavor
    grow = ram_mb - instance.ram_mb
    return bool(
        flavor.memory_slots
        and flavor.max_ram_mb
        and ram_mb <= flavor.max_ram_mb
        and grow > 0
        and grow % DIMM_ALIGN_MB == 0
    )


def rename(user, instance, name, request=None):
    """The name changes at once; the domain's title follows in a task."""
    Instance._meta.get_field("name").run_validators(name)
    _guard(user, instance, Action.RENAME)
    return _queue(user, instance, Action.RENAME, {"old": instance.name, "new": name}, request, name=name)


def rebuild(user, instance, image, request=None):
    _guard(user, instance, Action.REBUILD)
    hooks.check_root_disk(instance, "rebuild")
    check_launch(instance.project, instance.flavor, image, None)
    return _queue(user, instance, Action.REBUILD, {"image": image.pk, "image_name": image.name}, request)


def set_lock(user, instance, locked, request=None):
    """Lock (no actions by non-admins) or unlock; only project admins unlock what is locked."""
    _writable(user, instance.project)
    if instance.locked and not locked and not _is_admin(user, instance.project):
        raise NotPermitted("Only project admins unlock an instance.")
    Instance.objects.filter(pk=instance.pk).update(locked=locked)
    instance.locked = locked
    record_event(instance, EventSource.ACTION, "lock" if locked else "unlock")
    audit.record(user, "instance.lock" if locked else "instance.unlock", instance, request=request)
    return instance


def may_set_ha_priority(user, instance):
    """Cloud admins and the project's admins: HA claims failover capacity the whole cluster keeps free."""
    return user.is_authenticated and _is_admin(user, instance.project)


def set_ha_priority(user, instance, priority, request=None):
    """HA restart priority (0 = not protected), for whom `may_set_ha_priority` allows."""
    if not may_set_ha_priority(user, instance):
        raise NotPermitted("Only project admins and cloud admins change an instance's HA priority.")
    if priority not in HaPriority.values:
        raise ActionError(f"ha_priority is one of {', '.join(map(str, HaPriority.values))}.", field="ha_priority")
    Instance.objects.filter(pk=instance.pk).update(ha_priority=priority)
    instance.ha_priority = priority
    record_event(instance, EventSource.ACTION, "ha priority", HaPriority(priority).label)
    audit.record(user, "instance.set_ha", instance, request=request, ha_priority=priority)
    return instance


def delete(user, instance, request=None):
    """Remove the domain and its root disk, then free the quota (in the task)."""
    _guard(user, instance, Action.DELETE)
    return _queue(user, instance, Action.DELETE, request=request, state=InstanceState.DELETING)


def set_balloon(user, instance, memory_mb, request=None):
    if not MIN_BALLOON_MB <= memory_mb <= instance.ram_mb:
        raise ActionError(f"The balloon target is {MIN_BALLOON_MB} to {instance.ram_mb} MB.", field="memory_mb")
    _guard(user, instance, Action.SET_BALLOON)
    return _queue(user, instance, Action.SET_BALLOON, {"memory_mb": memory_mb}, request)


def set_cpu_qos(user, instance, *, shares=None, limit_pct=None, request=None):
    if shares is None and limit_pct is None:
        raise ActionError("Give shares, limit_pct or both.")
    _guard(user, instance, Action.SET_CPU_QOS)
    return _queue(user, instance, Action.SET_CPU_QOS, {"shares": shares, "limit_pct": limit_pct}, request)
