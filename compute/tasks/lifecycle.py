"""compute's libvirt lifecycle events: one process in the fleet follows each host's events and
writes what they say on the instance (unless an action owns it), reporting unexpected stops."""

import logging
import threading

from celery import shared_task
from django.db import transaction
from django.utils import timezone

import hypervisor as hv
from compute import domain, hooks
from compute.choices import (
    IO_ERROR_PAUSE,
    IO_STALL,
    STATE_FOR_POWER,
    TRANSIENT_STATES,
    EventSource,
    HostState,
    InstanceState,
    PowerState,
)
from compute.models import Host, Instance
from compute.tasks.instances import INSTANCE_RELATED, publish, record_vnc_port, set_state
from portal import fleetlock, operations

log = logging.getLogger(__name__)
WATCH_EVENTS = True  # tests switch the libvirt event watch off and call the handler directly
RECONCILED_HOST_STATES = (HostState.UP, HostState.MAINTENANCE, HostState.ERROR)  # followed and reconciled
_watched = {}
_watch_lock = threading.Lock()


def ensure_watch(host):
    """Follow the host's lifecycle events: one process in the fleet does (a fleet lock per
    host), so each event is handled once; when that process dies its lock lapses and the next
    worker to run this (beat's follow_events, the reconciler) takes the watch over."""
    if not WATCH_EVENTS:
        return
    with _watch_lock:
        if host.uri in _watched:
            return
    name = f"watch:{host.uri}"
    if not fleetlock.acquire(name, lambda: _drop_watch(host.uri)):
        return  # another process follows this host
    try:
        with _watch_lock:
            if host.uri not in _watched:
                _watched[host.uri] = hv.watch_lifecycle(host.uri, _on_event)
    except hv.HypervisorError:
        fleetlock.release(name)
        raise


def _drop_watch(uri):
    with _watch_lock:
        watch_id = _watched.pop(uri, None)
    if watch_id is not None:
        try:
            hv.unwatch_lifecycle(uri, watch_id)
        except hv.HypervisorError:
            pass  # the connection is gone, and its watch with it


def stop_watches():
    """Stop following every host's lifecycle events (a test session that registered real hosts
    ends with it, so their events do not reach the next test's database)."""
    for uri in list(_watched):
        _drop_watch(uri)
        fleetlock.release(f"watch:{uri}")


@shared_task(name="compute.tasks.follow_events")
def follow_events():
    """Beat: take over the lifecycle watch of every host nobody follows (a holder died)."""
    for host in Host.objects.filter(state__in=RECONCILED_HOST_STATES):
        try:
            ensure_watch(host)
        except hv.HypervisorError as exc:
            log.info("cannot follow %s's events: %s", host.name, exc)
    return sorted(_watched)


def _on_event(uri, uuid, event, detail):
    # On libvirt's event thread: hand over and return at once.
    lifecycle_event.delay(uri, uuid, event, detail)


@shared_task(name="compute.tasks.lifecycle_event")
def lifecycle_event(uri, uuid, event, detail):
    instance = Instance.objects.select_related(*INSTANCE_RELATED).filter(uuid=uuid, host__uri=uri).first()
    if instance is None or instance.state == InstanceState.DELETED:
        return
    domain.record_event(instance, EventSource.LIBVIRT, event, detail)
    if instance.state in TRANSIENT_STATES or operations.active_on(instance) is not None:
        return  # the task that owns it writes the state
    was = instance.state
    try:
        power = PowerState(hv.domain_state(instance.host.uri, str(instance.uuid)).state)
    except hv.DomainNotFound:
        set_state(instance, InstanceState.ERROR, PowerState.VANISHED, f"The domain was {event} outside Nubes.")
        return
    if not _write_if_unchanged(instance, power):
        return
    record_vnc_port(instance, power)
    if (event, detail) == ("suspended", "ioerror"):
        note_io_error(instance)
    if (event, detail) not in INTENDED_STOPS:
        report_unexpected_stop(instance, was, power, f"libvirt: {event} ({detail})")


def note_io_error(instance):
    """QEMU paused the guest because a disk's storage failed (error_policy stop): name the disks
    in the instance's reason and tell the apps (storage marks the pools, and resumes the guest
    once they answer). Nothing is lost: the failed request is retried on resume."""
    try:
        errors = hv.domain_disk_errors(instance.host.uri, str(instance.uuid))
    except hv.HypervisorError:
        errors = {}
    disks = ", ".join(f"{dev} ({why})" for dev, why in sorted(errors.items())) or "a disk"
    reason = f"{IO_ERROR_PAUSE} on {disks}; it resumes when the storage answers again."[:500]
    Instance.objects.filter(pk=instance.pk, state=InstanceState.PAUSED).update(state_reason=reason)
    instance.state_reason = reason
    publish(instance)
    hooks.instance_io_error.send(sender=Instance, instance=instance, disks=errors)


def stall_prefix(pool_name):
    return f"{IO_STALL}: pool {pool_name} unreachable"


def note_io_stall(instance, pool_name, detail):
    """storage: a pool holding a disk of this running instance does not answer at all. QEMU
    reports nothing (its I/O waits), so the instance's reason says it while it lasts; a reason
    already there (paused on an I/O error, another pool's stall) is kept. True when written."""
    reason = f"{stall_prefix(pool_name)} {detail}"[:500]
    written = Instance.objects.filter(pk=instance.pk, state=InstanceState.ACTIVE, state_reason="").update(
        state_reason=reason
    )
    if written:
        instance.state_reason = reason
        domain.record_event(instance, EventSource.RECONCILER, "io stalled", reason)
        publish(instance)
    return bool(written)


def clear_io_stall(pool_name):
    """storage: the pool answers again; its instances' stall notes go. Returns their names."""
    cleared = []
    for instance in Instance.objects.select_related(*INSTANCE_RELATED).filter(
        state_reason__startswith=stall_prefix(pool_name)
    ):
        if Instance.objects.filter(pk=instance.pk, state_reason=instance.state_reason).update(state_reason=""):
            instance.state_reason = ""
            domain.record_event(
                instance, EventSource.RECONCILER, "io answers", f"storage pool {pool_name} answers again"
            )
            publish(instance)
            cleared.append(instance.name)
    return cleared


def _write_if_unchanged(instance, power):
    """Write what libvirt said unless an action began or wrote the row since the event loaded it:
    that writer read libvirt after us, so a late event (a forced stop's) must not undo a start."""
    state = STATE_FOR_POWER[power]
    with transaction.atomic():
        if operations.active_on(instance) is not None:
            return False
        written = Instance.objects.filter(
            pk=instance.pk,
            state=instance.state,
            power_state=instance.power_state,
            updated=instance.updated,
        ).update(state=state, power_state=power, state_reason="", updated=timezone.now())
    if not written:
        return False
    instance.state, instance.power_state, instance.state_reason = state, power, ""
    publish(instance)
    return True


# The guest powering itself off is its owner's decision, not a failure: HA leaves it off.
INTENDED_STOPS = {("stopped", "shutdown"), ("shutdown", "guest"), ("shutdown", "finished")}
UNEXPECTED_POWER = (PowerState.SHUTOFF, PowerState.CRASHED)


def report_unexpected_stop(instance, was, power, cause):
    """The database held the instance active and no Nubes action was running, yet it stopped."""
    if was == InstanceState.ACTIVE and power in UNEXPECTED_POWER:
        domain.record_event(instance, EventSource.LIBVIRT, "stopped unexpectedly", cause)
        hooks.instance_stopped_unexpectedly.send(sender=Instance, instance=instance, cause=cause)
