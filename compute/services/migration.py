"""The verbs of migration: check before anything moves, write the Operation and the Migration,
queue the task. Also cancel and the switch to post-copy; evacuation (maintenance mode) is in
`evacuation.py` and starts its migrations through `launch`.

HA's restart of a fenced host's instance on another host (restart_on) lives here too: it is
the one other way an instance changes host.

Pre-checks each fail with an ActionError that says why: the target is up, has room (the
cluster's overcommit ratios), can run the instance's CPU (libvirt's comparison against the
cluster CPU baseline or the instance's own CPU), reaches the instance's disk or copy-storage
is chosen, what other apps register in compute.hooks (network: the target is an OVN chassis
when the instance has OVN ports), and nothing else is running on the instance (TargetBusy).
"""

from dataclasses import dataclass

from django.db import transaction
from lxml import etree

import hypervisor as hv
from compute import hooks
from compute.choices import EventSource, HostState, InstanceState
from compute.domain import record_event
from compute.hosts import storage_shared
from compute.models import Host, Instance, Migration, MigrationState
from compute.models.migration import QEMU_DEFAULT_DOWNTIME_MS
from compute.services import placement
from compute.tasks import migration as migration_tasks
from compute.tasks import restart as restart_tasks
from portal import audit, operations
from portal.choices import OperationStatus
from portal.errors import ActionError, Conflict, NotPermitted

OPERATION_KIND = "instance.migrate"
RESTART_KIND = "instance.ha_restart"
LIVE_STATES = (InstanceState.ACTIVE, InstanceState.PAUSED)
COLD_STATES = (InstanceState.SHUTOFF,)
MAX_BANDWIDTH_MIB_S = 100_000  # 800 Gbit/s: anything above is a typo
MAX_DOWNTIME_MS = 60_000
MAX_PARALLEL_CONNECTIONS = 16
BOOL_OPTIONS = ("auto_converge", "postcopy", "compressed", "copy_storage")
INT_OPTIONS = {  # name -> upper bound
    "bandwidth_mib_s": MAX_BANDWIDTH_MIB_S,
    "max_downtime_ms": MAX_DOWNTIME_MS,
    "parallel_connections": MAX_PARALLEL_CONNECTIONS,
}
STR_OPTIONS = {"target_pool": 128}  # name -> max length; target_pool: the target's pool for copied root disks
OPTION_FIELDS = (*INT_OPTIONS, *BOOL_OPTIONS, *STR_OPTIONS)
INSTANCE_RELATED = ("project", "flavor", "image", "host", "host__cluster")


# --- options -------------------------------------------------------------------------------


def normalise_options(options, live):
    """A clean options dict (defaults filled in) or an ActionError naming the bad field."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTION_FIELDS))
    if unknown:
        raise ActionError(f"Unknown migration option(s): {', '.join(unknown)}.", field=unknown[0])
    clean = {}
    for name, upper in INT_OPTIONS.items():
        value = options.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= upper:
            raise ActionError(f"{name} is a whole number from 1 to {upper}.", field=name)
        clean[name] = value
    for name, longest in STR_OPTIONS.items():
        value = options.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or len(value) > longest:
            raise ActionError(f"{name} is a name of at most {longest} characters.", field=name)
        clean[name] = value
    for name in BOOL_OPTIONS:
        value = options.get(name, False)
        if not isinstance(value, bool):
            raise ActionError(f"{name} is true or false.", field=name)
        clean[name] = value
    clean.setdefault("max_downtime_ms", QEMU_DEFAULT_DOWNTIME_MS)
    if not live:
        for name in ("postcopy", "auto_converge"):
            if clean[name]:
                raise ActionError(f"{name} applies to live migrations only.", field=name)
    try:
        migration_tasks.gateway_options(clean, live)
    except hv.InvalidConfig as exc:
        raise ActionError(str(exc)) from exc
    return clean


# --- pre-checks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Demand:
    """What the instance holds, shaped like a flavor for placement's capacity check."""

    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    cpu_policy: str
    cpu_reservation_mhz: int


def demand_of(instance):
    flavor = instance.flavor
    return Demand(
        name=f"{flavor.name} (instance {instance.name})",
        vcpus=instance.vcpus,
        ram_mb=instance.ram_mb,
        disk_gb=instance.disk_gb,
        cpu_policy=flavor.cpu_policy,
        cpu_reservation_mhz=flavor.cpu_reservation_mhz,
    )


def may_migrate(user):
    if user is not None and not user.is_staff:
        raise NotPermitted("Only cloud admins migrate instances.")


def check_instance(instance, live):
    if instance.host_id is None:
        raise ActionError(f"Instance {instance.name} is on no host.")
    allowed = LIVE_STATES if live else COLD_STATES
    if instance.state not in allowed:
        kind = "A live" if live else "A cold"
        hint = " Stop it for a cold migration." if not live and instance.state in LIVE_STATES else ""
        raise Conflict(
            f"{kind} migration needs the instance {' or '.join(allowed)}; {instance.name} is {instance.state}.{hint}"
        )
    running = operations.active_on(instance)
    if running is not None:
        raise operations.TargetBusy(running)
    if Migration.objects.active().filter(instance=instance).exists():
        raise Conflict(f"Instance {instance.name} is already queued for migration.")


def check_snapshots(instance):
    """Conflict when libvirt holds internal snapshots of the instance: their metadata stays with
    the source's libvirtd (it then refuses to undefine the source's copy once the guest has
    moved: 'cannot delete inactive domain with N snapshots') and a copy-storage move writes only
    the disk's current data. Refused before anything moves, as storage's disk moves do."""
    try:
        internal = [s.name for s in hv.snapshot_list(instance.host.uri, str(instance.uuid)) if not s.external]
    except hv.DomainNotFound:
        return
    except hv.HostUnreachable as exc:
        raise ActionError(f"Cannot reach {instance.host.name} to list the snapshots of {instance.name}: {exc}") from exc
    if internal:
        raise Conflict(
            f"Instance {instance.name} has internal snapshots ({', '.join(internal[:5])}): libvirt keeps them "
            f"on {instance.host.name} and a copy of its disk would not carry them, so the move would end with "
            "the guest on the target and a stopped copy left behind. Delete its internal snapshots first "
            "(external ones move with a shared disk)."
        )


def check_target(instance, target, options):
    """Raise ActionError unless ``target`` can take ``instance`` now. Returns whether the
    target reaches the instance's disk (False: only with copy-storage)."""
    source = instance.host
    if target.pk == source.pk:
        raise ActionError(f"Instance {instance.name} is already on {target.name}.", field="target_host")
    check_up_with_room(instance, target)
    check_cpu(instance, target)
    for why in hooks.migration_refusals(instance, target):
        raise ActionError(why, field="target_host")
    shared = storage_shared(instance, target)
    if not shared:
        hooks.check_root_disk(instance, "copy the root disk (copy-storage migration) of")
    if not shared and not options.get("copy_storage"):
        raise ActionError(
            f"The root disk of {instance.name} is not reachable from {target.name}: choose "
            "copy_storage to copy it along.",
            field="copy_storage",
        )
    if not shared:
        check_copy_pool(instance, target, options)
    return shared


def target_hints(instance, targets):
    """{host pk: why a move there may be refused or need more}, from the database alone (the
    migrate form's hint beside each target; the pre-checks still decide, with libvirt)."""
    source = instance.host
    pool = hooks.root_disk_files(instance, ((instance.image.pool, instance.root_volume),))[0][0]
    usage = placement._usage_by_host(list(targets))
    hints = {}
    for target in targets:
        why = []
        room = placement.capacity_rejection(
            demand_of(instance), target.cluster, target, usage.get(target.pk, placement.Usage())
        )
        if room is not None:
            why.append(f"no room: {room}")
        if target.cluster_id != source.cluster_id:
            why.append("another cluster: its CPU may lack features the guest uses")
        elif not target.cluster.cpu_baseline_xml:
            why.append("no cluster CPU baseline: the guest's CPU must be one this host has")
        if not hooks.pool_shared(pool, source, target):
            why.append(f"no pool {pool} shared with {source.name}: needs copy storage")
        hints[target.pk] = "; ".join(why)
    return hints


def check_up_with_room(instance, target):
    """The target is up and has room for the instance (the cluster's overcommit ratios)."""
    if target.state != HostState.UP:
        why = f" ({target.state_reason})" if target.state_reason else ""
        raise ActionError(
            f"Target host {target.name} is {target.state}{why}; it takes no instances.", field="target_host"
        )
    used = placement._usage_by_host([target]).get(target.pk, placement.Usage())
    why = placement.capacity_rejection(demand_of(instance), target.cluster, target, used)
    if why is not None:
        raise ActionError(f"Target host {target.name} has no room: {why}.", field="target_host")


def instance_cpu_xml(instance):
    """The CPU the guest was given: the cluster baseline (EVC) when the cluster has one, else
    the domain's own custom CPU, else (host-model / passthrough) the source host's CPU."""
    cluster = instance.host.cluster
    if cluster.cpu_baseline_xml:
        return cluster.cpu_baseline_xml, f"the cluster CPU baseline {cluster.cpu_baseline_model or ''}".strip()
    source = instance.host
    domain = etree.fromstring(hv.domain_xml(source.uri, str(instance.uuid)).encode())
    cpu = domain.find("cpu")
    if cpu is not None and cpu.get("mode", "custom") == "custom" and cpu.findtext("model"):
        return etree.tostring(cpu, encoding="unicode"), f"the instance's CPU {cpu.findtext('model')}"
    return hv.host_cpu_xml(source.uri), f"the CPU of {source.name} (the guest copies its host's model)"


def check_cpu(instance, target):
    try:
        cpu_xml, what = instance_cpu_xml(instance)
        # The guest's domain type, as domain_spec chose it: a TCG guest is compared as TCG.
        verdict = hv.cpu_compare(target.uri, cpu_xml, "kvm" if instance.host.kvm_usable else "qemu")
    except hv.HostUnreachable as exc:
        raise ActionError(f"Cannot reach a host to compare CPUs: {exc}", field="target_host") from exc
    except (hv.NotSupported, hv.InvalidConfig) as exc:
        raise ActionError(
            f"CPU compatibility with {target.name} cannot be checked: {exc}", field="target_host"
        ) from exc
    if verdict == "incompatible":
        raise ActionError(
            f"Target host {target.name} cannot run {what}: its CPU lacks features the guest uses. "
            "Set a cluster CPU baseline (EVC) or choose another host.",
            field="target_host",
        )


def check_copy_pool(instance, target, options):
    """A real target has the pool the root disk is copied into (simulated ones get a stand-in)."""
    if target.simulated:
        return
    pool = migration_tasks.root_copy_pool(instance, options)
    try:
        hv.pool_info(target.uri, pool)
    except hv.PoolNotFound as exc:
        raise ActionError(
            f"{target.name} has no storage pool {pool} to copy the root disk of {instance.name} into: "
            "choose target_pool (one of its pools).",
            field="target_pool",
        ) from exc
    except hv.HostUnreachable as exc:
        raise ActionError(f"Cannot reach {target.name} to find pool {pool}: {exc}", field="target_host") from exc


def choose_target(instance, options):
    """The scheduler's pick among the other up hosts of the instance's cluster that pass
    every pre-check; ActionError listing each host's reason when none does."""
    source = instance.host
    candidates = list(
        Host.objects.select_related("cluster").filter(cluster=source.cluster, state=HostState.UP).exclude(pk=source.pk)
    )
    reasons = []
    demand = demand_of(instance)
    while candidates:
        usage = placement._usage_by_host(candidates)
        chosen, rejected = placement._place(demand, source.cluster, candidates, usage)
        reasons += rejected
        if chosen is None:
            break
        try:
            shared = check_target(instance, chosen, {**options, "copy_storage": True})
        except ActionError as exc:
            reasons.append((chosen.name, str(exc)))
            candidates = [host for host in candidates if host.pk != chosen.pk]
            continue
        return chosen, shared
    detail = "; ".join(f"{host}: {why}" for host, why in reasons) or "no other host is up in the cluster"
    raise ActionError(f"No host can take {instance.name}: {detail}.", field="target_host")


# --- start ---------------------------------------------------------------------------------


def start_migration(instance, *, target_host=None, user=None, live=True, options=None, reason="", request=None):
    """Pre-check, then queue the migration; returns its Operation (cancellable)."""
    may_migrate(user)
    clean = normalise_options(options, live)
    instance = Instance.objects.select_related(*INSTANCE_RELATED).get(pk=instance.pk)
    return launch(instance, target_host, user, live, clean, reason, request=request)


def launch(instance, target_host, user, live, options, reason, *, waiting=None, request=None):
    if waiting is None:
        check_instance(instance, live)
    else:
        _check_waiting(instance, live)
    check_snapshots(instance)
    if target_host is None:
        target, shared = choose_target(instance, options)
        # The scheduler's choice copies the disk itself when it must.
        options = {**options, "copy_storage": options.get("copy_storage") or not shared}
    else:
        target = Host.objects.select_related("cluster").get(pk=target_host.pk)
        check_target(instance, target, options)
    source = instance.host

    with transaction.atomic():
        op = operations.begin(
            OPERATION_KIND,
            instance,
            user=user,
            project=instance.project,
            cancellable=True,
            detail={"source": source.name, "target": target.name, "live": live},
        )
        fields = {
            "instance": instance,
            "source": source,
            "target": target,
            "live": live,
            "options": options,
            "state": MigrationState.QUEUED,
            "operation": op,
            "reason": reason[:255],
            "simulated": source.simulated and target.simulated,
            "requester": user if user is not None and user.is_authenticated else None,
        }
        if waiting is None:
            migration = Migration.objects.create(**fields)
        else:
            migration = waiting
            for name, value in fields.items():
                setattr(migration, name, value)
            migration.save()
        record_event(
            instance, EventSource.ACTION, "migrate", f"{'live' if live else 'cold'} {source.name} → {target.name}", op
        )
        operations.send_after_commit(migration_tasks.run_migration, op)
    audit.record(user, OPERATION_KIND, instance, request=request, from_host=source.name, to_host=target.name, live=live)
    return op


def _check_waiting(instance, live):
    running = operations.active_on(instance)
    if running is not None:
        raise operations.TargetBusy(running)
    allowed = LIVE_STATES if live else COLD_STATES
    if instance.state not in allowed or instance.host_id is None:
        raise Conflict(f"Instance {instance.name} is {instance.state} now; it was not moved.")


# --- while it runs -------------------------------------------------------------------------


def cancel_migration(migration, user, request=None):
    """Abort: a waiting or queued one ends at once, a running one at the gateway's next poll
    (the instance keeps running on the source)."""
    may_migrate(user)
    migration.refresh_from_db()
    if migration.state == MigrationState.WAITING:
        migration_tasks.close(migration, MigrationState.CANCELLED, "Cancelled before it started")
    elif not migration.is_active or migration.operation is None:
        raise Conflict(f"Migration {migration.pk} is {migration.state}; nothing to cancel.")
    elif not operations.request_cancel(migration.operation):
        raise Conflict(f"Migration {migration.pk} can no longer be cancelled.")
    else:
        migration.operation.refresh_from_db()
        migration.refresh_from_db()  # a lost worker's migration was settled by the cancel itself
        if migration.operation.status == OperationStatus.CANCELLED and migration.is_active:
            migration_tasks.close(migration, MigrationState.CANCELLED, "Cancelled before it started")
    audit.record(user, "instance.migrate.cancel", migration.instance, request=request, migration=migration.pk)
    return migration


def switch_to_postcopy(migration, user, request=None):
    """Ask a running live migration that allows post-copy to switch now: the guest runs on
    the target at once and pulls the rest of its memory from the source."""
    may_migrate(user)
    migration.refresh_from_db()
    if migration.state != MigrationState.RUNNING:
        raise Conflict(f"Migration {migration.pk} is {migration.state}, not running.")
    if not migration.live or not migration.options.get("postcopy"):
        raise ActionError("Post-copy was not allowed when this migration started (option postcopy).", field="postcopy")
    if migration.postcopy_requested:
        raise Conflict("The switch to post-copy was already requested.")
    Migration.objects.filter(pk=migration.pk).update(postcopy_requested=True)
    migration.postcopy_requested = True
    audit.record(user, "instance.migrate.postcopy", migration.instance, request=request, migration=migration.pk)
    return migration


# --- HA restart on another host ------------------------------------------------------------


def restart_on(instance, target_host, *, reason=""):
    """Define and start ``instance`` on ``target_host`` from the database, never touching its
    source host, which HA has fenced (powered off) first. The root disk must be on storage
    the target sees (a shared pool); the task refuses otherwise. Returns the Operation."""
    instance = Instance.objects.select_related(*INSTANCE_RELATED).get(pk=instance.pk)
    target = Host.objects.select_related("cluster").get(pk=target_host.pk)
    source = instance.host
    if source is None:
        raise ActionError(f"Instance {instance.name} is on no host.")
    if target.pk == source.pk:
        raise ActionError(f"Instance {instance.name} is already on {target.name}.", field="target_host")
    if source.state != HostState.DOWN:
        raise Conflict(
            f"{source.name} is {source.state}: an instance restarts elsewhere only after its host "
            "is fenced and down (its disks must not be written by two hosts)."
        )
    if instance.state in (InstanceState.DELETING, InstanceState.DELETED, InstanceState.BUILDING):
        raise Conflict(f"Instance {instance.name} is {instance.state}; it is not restarted.")
    check_up_with_room(instance, target)

    with transaction.atomic():
        op = operations.begin(
            RESTART_KIND,
            instance,
            project=instance.project,
            detail={"source": source.name, "target": target.pk, "target_name": target.name, "reason": reason[:255]},
        )
        record_event(instance, EventSource.ACTION, "ha restart", f"{source.name} → {target.name}: {reason}", op)
        operations.send_after_commit(restart_tasks.restart_instance, op)
    audit.record(None, RESTART_KIND, instance, from_host=source.name, to_host=target.name, reason=reason)
    return op
