"""The migration task: reload the Migration by its Operation, run the gateway's migrate_domain,
store and publish every progress sample, and end with the database saying where libvirt
runs the domain - whatever happened (success, cancel, failure, time limit)."""

import dataclasses
import logging
import os
import time
from dataclasses import dataclass

from celery import shared_task
from django.utils import timezone

import hypervisor as hv
from compute import console, hooks
from compute.choices import BYTES_PER_GIB, STATE_FOR_POWER, EventSource, InstanceState, PowerState
from compute.domain import record_event
from compute.hosts import storage_shared
from compute.models import Instance, Migration, MigrationPhase, MigrationState
from compute.tasks import instances as compute_tasks
from portal import operations, presenters, realtime
from portal.errors import ActionError
from portal.models import Operation
from portal.tasks import LONG_JOB, Cancelled, run_operation

log = logging.getLogger(__name__)
PROGRESS_EVENT = "migration.progress"
STATE_EVENT = "migration"
MIGRATION_RELATED = (
    "instance__project",
    "instance__flavor",
    "instance__image",
    "instance__host__cluster",
    "source__cluster",
    "target__cluster",
    "operation",
)
SAMPLES_FLUSH_EVERY = 10  # progress samples are written to the row every N polls (and at the end)
_sleep = time.sleep  # the simulated pre-copy paces itself with this; tests replace it


def publish(migration):
    """The Migration as the REST API shows it, to its group and its instance's group."""
    data = presenters.present(migration)
    groups = (migration.group, f"compute.instance.{migration.instance_id}")
    realtime.publish_many([(group, STATE_EVENT, data) for group in groups])


def close(migration, state, error=""):
    migration.state, migration.error, migration.finished = state, error[:10000], timezone.now()
    migration.save(update_fields=["state", "error", "finished"])
    publish(migration)


def progress_payload(migration, sample):
    return {
        "migration": migration.pk,
        "instance": migration.instance_id,
        "state": migration.state,
        "phase": migration.phase,
        "percent": migration.percent,
        "simulated": migration.simulated,
        "sample": sample,
        "published": time.time(),
    }


class ProgressRelay:
    """The gateway's on_progress callback: store, publish, and pass cancel / post-copy
    requests (set by other processes in the database) to the gateway's control events."""

    def __init__(self, migration, op):
        self.migration, self.op = migration, op
        self.control = hv.MigrationControl()
        self.started = time.monotonic()
        self.last_percent = -1
        self.unsaved = 0

    def __call__(self, progress):
        migration = self.migration
        sample = dataclasses.asdict(progress)
        sample["t"] = round(time.monotonic() - self.started, 3)
        migration.add_sample(sample)
        migration.phase, migration.percent = progress.phase, progress.percent
        migration.memory_total, migration.memory_remaining = progress.memory_total, progress.memory_remaining
        migration.simulated = migration.simulated or progress.simulated
        fields = ["phase", "percent", "memory_total", "memory_remaining", "simulated"]
        self.unsaved += 1
        if self.unsaved >= SAMPLES_FLUSH_EVERY:
            # The list grows with every poll: writing it each time costs O(n^2); _finish writes the rest.
            fields.append("samples")
            self.unsaved = 0
        migration.save(update_fields=fields)
        payload = progress_payload(migration, sample)
        groups = (migration.group, f"compute.instance.{migration.instance_id}")
        realtime.publish_many([(group, PROGRESS_EVENT, payload) for group in groups])
        if progress.percent != self.last_percent:
            self.last_percent = progress.percent
            operations.progress(
                self.op, progress.percent, f"{progress.phase}: {progress.percent}% (iteration {progress.iteration})"
            )
        self.read_requests()

    def read_requests(self):
        cancel, postcopy = (
            Operation.objects.filter(pk=self.op.pk)
            .values_list("cancel_requested", "migration__postcopy_requested")
            .get()
        )
        if cancel:
            self.control.cancel.set()
        if postcopy:
            self.control.switch_to_postcopy.set()


def gateway_options(options, live, migration_uri=None):
    """The gateway's MigrationOptions for a stored options dict (and the target's
    migration URI, where its QEMU listens)."""
    return hv.MigrationOptions(
        live=live,
        migration_uri=migration_uri or None,
        bandwidth_mib_s=options.get("bandwidth_mib_s"),
        max_downtime_ms=options.get("max_downtime_ms") if live else None,
        auto_converge=options.get("auto_converge", False),
        postcopy=options.get("postcopy", False),
        compressed=options.get("compressed", False),
        parallel_connections=options.get("parallel_connections"),
        copy_storage=options.get("copy_storage", False),
    )


def root_copy_pool(instance, options):
    """The target's pool a copy-storage migration copies the root disk into: the chosen
    target_pool, else a pool of the same name as the root disk's."""
    return (
        options.get("target_pool")
        or hooks.root_disk_files(instance, ((instance.image.pool, instance.root_volume),))[0][0]
    )


@shared_task(bind=True, **LONG_JOB, name="compute.migration_tasks.run_migration")
def run_migration(self, op_id):
    return run_operation(op_id, migrate, self.request.id or "")


def settle_lost(op):
    """The reaper's settle hook (portal.leases) for a migration whose worker is gone: abort any
    job libvirt still runs on the source (the domain then stays there), then put the instance
    and the Migration row where libvirt says. Raises when the source does not answer."""
    migration = Migration.objects.select_related(*MIGRATION_RELATED).filter(operation_id=op.pk).first()
    if migration is None or migration.state not in (MigrationState.QUEUED, MigrationState.RUNNING):
        return ""
    try:
        aborted = hv.abort_domain_job(migration.source.uri, str(migration.instance.uuid))
    except hv.DomainNotFound:
        aborted = False  # already on the target: settle finds it there
    where = settle(migration, "Migration interrupted: its worker was lost.")
    state = MigrationState.CANCELLED if op.cancel_requested else MigrationState.FAILED
    _finish(migration, state, where, None, error="worker lost")
    return f"{migration.instance.name} is on {where.name}" + (" (libvirt's job aborted)." if aborted else ".")


def migrate(op):
    migration = Migration.objects.select_related(*MIGRATION_RELATED).get(operation_id=op.pk)
    instance, source, target = migration.instance, migration.source, migration.target
    _update(migration, state=MigrationState.RUNNING, phase=MigrationPhase.SETUP, started=timezone.now())
    compute_tasks.set_state(instance, instance.state, reason=f"Migrating to {target.name}")
    relay = ProgressRelay(migration, op)
    relay.read_requests()  # a cancel may have come while the task was queued
    settled, result, copied = False, None, None
    try:
        copied = _copy_storage_simulated(migration) or _copy_root(migration)
        hooks.instance_migrating.send(
            sender=Instance, instance=instance, source=source, target=target, live=migration.live
        )
        result = hv.migrate_domain(
            source.uri,
            target.uri,
            str(instance.uuid),
            _gateway_options(migration, copied),
            relay,
            relay.control,
            sleep=_sleep,
        )
    except hv.MigrationCancelled as exc:
        settled = True
        where = settle(migration, str(exc))
        _finish(migration, MigrationState.CANCELLED, where, copied, error=str(exc))
        raise Cancelled(f"Cancelled; {instance.name} keeps running on {where.name}") from exc
    except hv.HypervisorError as exc:
        settled = True
        where = settle(migration, f"Migration failed: {exc}")
        left = _clear_source(migration, where)
        _finish(migration, MigrationState.FAILED, where, copied, error=str(exc))
        raise ActionError(
            f"Migration to {target.name} failed: {exc}. {instance.name} is on {where.name}.{left}"
        ) from exc
    finally:
        if result is None and not settled:
            # Anything unexpected (a time limit, the database) still leaves the row where
            # the domain really is.
            where = settle(migration, "Migration interrupted")
            _finish(migration, MigrationState.FAILED, where, copied, error="interrupted")
    where = settle(migration)
    _clear_source(migration, where)
    outcome = MigrationState.SUCCEEDED if where.pk == target.pk else MigrationState.FAILED
    _finish(migration, outcome, where, copied, result=result)
    if outcome != MigrationState.SUCCEEDED:
        raise ActionError(f"libvirt reported success but {instance.name} runs on {where.name}.")
    if copied is not None and copied.seed_target_path:
        Instance.objects.filter(pk=instance.pk).update(seed_path=copied.seed_target_path)
    hooks.instance_migrated.send(
        sender=Instance,
        instance=Instance.objects.get(pk=instance.pk),
        source=source,
        target=target,
        copied_storage=bool(migration.options.get("copy_storage")),
        root_disk=copied.on_target if copied is not None and copied.target_path else None,
    )
    kind = "post-copy" if result.postcopy_used else "pre-copy"
    return (
        f"{instance.name} moved {source.name} → {target.name} in {result.total_ms / 1000:.1f} s "
        f"({kind}, downtime {result.downtime_ms if result.downtime_ms is not None else '?'} ms)"
        + (" [simulated]" if result.simulated else "")
    )


def _gateway_options(migration, copied=None):
    options = gateway_options(migration.options, migration.live, migration.target.migration_uri)
    # QEMU's VNC server listens on the host's own address: the target's, once there.
    options = dataclasses.replace(options, vnc_listen=console.listen_address(migration.target))
    if copied is not None and copied.target_path:
        options = dataclasses.replace(options, disk_targets=((copied.source_path, copied.target_path),))
    if copied is not None and copied.seed_target_path:
        options = dataclasses.replace(options, file_targets=((copied.seed_source_path, copied.seed_target_path),))
    return options


def _update(migration, **fields):
    for name, value in fields.items():
        setattr(migration, name, value)
    migration.save(update_fields=list(fields))
    publish(migration)


@dataclass(frozen=True)
class RootCopy:
    """The root volume stood up on the target for a copy-storage move: once the move ends the
    copy on the host the domain did not end on is removed."""

    name: str
    source_pool: str
    target_pool: str
    source_path: str = ""  # real hosts: libvirt copies this file into target_path
    target_path: str = ""
    # The cloud-init seed beside the root disk, copied before the move (read-only: libvirt copies
    # only writable disks, and the target's definition must find it there).
    seed_name: str = ""
    seed_source_path: str = ""
    seed_target_path: str = ""

    @property
    def on_target(self):
        """(pool, volume name, path) of the root disk on the target."""
        return self.target_pool, self.name, self.target_path


def _copy_storage_simulated(migration):
    """Simulated hosts have no block copy: copy-storage stands the root volume up on the
    target (as an image cache would) and removes the source's after the move. A simulated
    shared pool gets the same stand-in, and the source keeps its view of the volume."""
    if not migration.simulated:
        return None
    instance = migration.instance
    copy = migration.options.get("copy_storage")
    if not copy and not storage_shared(instance, migration.target):
        return None
    pool, name = instance.image.pool, instance.root_volume
    try:
        hv.volume_info(migration.target.uri, pool, name)
        return None
    except hv.VolumeNotFound:
        hv.volume_create(migration.target.uri, pool, name, instance.disk_gb * BYTES_PER_GIB, "qcow2")
        return RootCopy(name, pool, pool) if copy else None


def _copy_root(migration):
    """Real hosts, copy-storage, a root disk the target does not see: its file made on the
    target now (same name and virtual size, flat, in the chosen pool), which libvirt then fills
    (VIR_MIGRATE_NON_SHARED_DISK over NBD). None when nothing is to be copied."""
    instance, target = migration.instance, migration.target
    if migration.simulated or not migration.options.get("copy_storage") or storage_shared(instance, target):
        return None
    pool, name = hooks.root_disk_files(instance, ((instance.image.pool, instance.root_volume),))[0]
    here = hv.volume_info(migration.source.uri, pool, name)
    target_pool = root_copy_pool(instance, migration.options)
    there = hv.volume_create(target.uri, target_pool, name, here.capacity_bytes, here.format or "qcow2")
    copied = RootCopy(name, pool, target_pool, here.path, there.path)
    if not instance.seed_path:
        return copied
    seed = os.path.basename(instance.seed_path)
    try:
        made = hv.volume_copy_across(migration.source.uri, pool, seed, target.uri, target_pool)
    except hv.HypervisorError as exc:
        _drop_copy(target, migration, copied)
        raise ActionError(f"Cannot copy the cloud-init seed of {instance.name} to {target.name}: {exc}") from exc
    return dataclasses.replace(
        copied, seed_name=seed, seed_source_path=instance.seed_path, seed_target_path=made.volume.path
    )


def _drop_copy(host, migration, copied):
    """Remove the root volume (and seed) copy on ``host``, the one the domain did not end on."""
    pool = copied.target_pool if host.pk == migration.target_id else copied.source_pool
    for name in (copied.name, copied.seed_name):
        if not name:
            continue
        try:
            hv.volume_delete(host.uri, pool, name)
        except (hv.VolumeNotFound, hv.PoolNotFound):
            continue
        except hv.HypervisorError as exc:
            log.warning("could not remove the copied volume %s of %s on %s: %s", name, migration.instance, host, exc)


def _finish(migration, state, where, copied, *, error="", result=None):
    fields = {"state": state, "finished": timezone.now(), "error": error[:10000], "samples": migration.samples}
    if state == MigrationState.SUCCEEDED:
        fields.update(phase=MigrationPhase.COMPLETED, percent=100, memory_remaining=0)
    if result is not None:
        fields.update(
            total_ms=result.total_ms,
            downtime_ms=result.downtime_ms,
            data_transferred=result.data_transferred,
            iterations=result.iterations,
            postcopy_used=result.postcopy_used,
            simulated=migration.simulated or result.simulated,
        )
    _update(migration, **fields)
    if copied is not None:
        _drop_copy(migration.source if where.pk == migration.target_id else migration.target, migration, copied)
    hooks.instance_migration_ended.send(
        sender=Instance, instance=migration.instance, source=migration.source, target=migration.target, where=where
    )
    record_event(
        migration.instance,
        EventSource.ACTION,
        f"migrate {state}",
        f"{migration.source.name} → {migration.target.name}: now on {where.name}" + (f" ({error})" if error else ""),
        migration.operation,
    )
    if migration.evacuating_id:
        hooks.advance_evacuation(migration.evacuating)  # the evacuation's next waiting migration


# --- where the domain really is ------------------------------------------------------------


def probe(host, uuid):
    """libvirt's state of the domain on ``host``: a PowerState, None (not there) or
    'unknown' (the host did not answer)."""
    try:
        return PowerState(hv.domain_state(host.uri, uuid).state)
    except hv.DomainNotFound:
        return None
    except hv.HypervisorError as exc:
        log.warning("cannot read %s on %s: %s", uuid, host, exc)
        return "unknown"


RUNNING_STATES = (
    PowerState.RUNNING,
    PowerState.BLOCKED,
    PowerState.PAUSED,
    PowerState.SHUTDOWN,
    PowerState.PMSUSPENDED,
)


def locate(source, target, uuid):
    """(host, power state) where libvirt runs the domain after a migration attempt.

    A running copy wins; if both are defined and neither runs, the source keeps it (a cold
    move that did not finish); a host that did not answer is trusted for nothing."""
    states = {source.pk: probe(source, uuid), target.pk: probe(target, uuid)}
    for host in (target, source):
        if states[host.pk] in RUNNING_STATES and states[host.pk] != PowerState.PAUSED:
            return host, states[host.pk]
    for host in (source, target):  # paused: a post-copy that lost its target leaves it paused
        if states[host.pk] in RUNNING_STATES:
            return host, states[host.pk]
    for host in (source, target):
        if states[host.pk] not in (None, "unknown"):
            return host, states[host.pk]
    return None, states[source.pk]


def _clear_source(migration, where):
    """Once the guest runs on the target, a definition libvirt left on the source (its undefine
    failed after the switch) is a stopped copy nobody manages: undefine it, with its snapshot
    metadata. Returns a sentence for the Operation's error when it stays."""
    if where.pk != migration.target_id:
        return ""
    source, uuid = migration.source, str(migration.instance.uuid)
    if probe(source, uuid) != PowerState.SHUTOFF:
        return ""  # gone (the normal end), running (not ours to touch) or not answering
    try:
        hv.domain_undefine(source.uri, uuid)
    except hv.HypervisorError as exc:
        log.warning("could not remove the stopped copy of %s on %s: %s", migration.instance, source, exc)
        return f" A stopped copy stays defined on {source.name}: {exc}"
    record_event(
        migration.instance,
        EventSource.ACTION,
        "migrate cleanup",
        f"removed the stopped copy libvirt left on {source.name}",
        migration.operation,
    )
    return f" The stopped copy libvirt left on {source.name} was removed."


def settle(migration, reason=""):
    """Write the host and state libvirt reports onto the instance; returns the host."""
    instance = Instance.objects.select_related("project", "host").get(pk=migration.instance_id)
    host, power = locate(migration.source, migration.target, str(instance.uuid))
    if host is None:
        state_reason = (f"{reason} " if reason else "") + (
            "Location unknown: the source host does not answer."
            if power == "unknown"
            else "The domain is on neither host."
        )
        compute_tasks.set_state(
            instance, InstanceState.ERROR, None if power == "unknown" else PowerState.VANISHED, state_reason.strip()
        )
        return migration.source
    if instance.host_id != host.pk:
        Instance.objects.filter(pk=instance.pk).update(host=host)
        instance.host = host
    try:
        compute_tasks.record_vnc_port(instance, power)  # the console's port on the host it ended on
    except hv.HypervisorError as exc:
        log.warning("cannot read the VNC port of %s on %s: %s", instance, host, exc)
    compute_tasks.set_state(instance, STATE_FOR_POWER[power], power, reason)
    return host
