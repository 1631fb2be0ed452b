"""Catalog tasks: wait for compute's Operations, talk to the guest through the agent gateway."""

import secrets
import time

from celery import shared_task
from django.utils import timezone

import hypervisor as hv
from catalog import sealed
from catalog.models import Backup, BackupState, Service, ServiceState
from network.models import IPAllocation
from portal import operations
from portal.choices import ACTIVE_STATUSES, OperationStatus
from portal.errors import ActionError
from portal.models import Operation
from portal.tasks import LONG_JOB, run_operation
from storage import services as storage
from storage.models import Volume

BUILD_WAIT_S = 900  # the instance's own create (image copy, boot) under TCG
AGENT_WAIT_S = 600  # from "running" to the health script answering (boot + PostgreSQL; 70-145 s under TCG at load 16)
POLL_S = 2.0
# One health script under TCG on a loaded host took 36 s: a shorter limit gives up on a script
# that is about to answer and, asked again, leaves another running in the guest beside it.
HEALTH_TIMEOUT_S = 120
HEALTH_ACTION = "health"
AGENT_DOWN = (hv.GuestAgentUnavailable, hv.GuestAgentTimeout)
# The listings the service's page shows, by the action that lists them; an action whose name
# starts with the same word (user-create, db-grant) is followed by that listing.
LISTINGS = {"user-list": "users", "db-list": "databases", "config-show": "configuration"}
LOG_TAIL_BYTES = 16 * 1024
# Actions that may take longer than the gateway's one-minute default: a configuration change may
# restart PostgreSQL (stop, start; half a minute or more under TCG on a loaded host).
ACTION_TIMEOUTS_S = {"config-set": 600}
DATA_VOLUME_TIMEOUT_S = 900  # stop PostgreSQL, copy its data onto the new volume, start it
BACKUP_TIMEOUT_S = 6 * 3600  # a dump or a restore (the scripts' own limit)


def _listing_for(action):
    word = action.split("-", 1)[0]
    return next((name for name in LISTINGS if name.split("-", 1)[0] == word), None)


def _remember(service, key, value):
    """Store what the guest reported under inventory[key] (one UPDATE of that row's field)."""
    service.refresh_from_db(fields=["inventory"])
    service.inventory = {**service.inventory, key: {**value, "at": timezone.now().isoformat()}}
    Service.objects.filter(pk=service.pk).update(inventory=service.inventory)


def _list_after(service, action, output):
    """Keep the page's listing current: the output of a list action, or the listing run after
    a change (a failing listing does not fail the change that succeeded)."""
    listing = action if action in LISTINGS else _listing_for(action)
    if listing is None or listing not in service.template.actions:
        return
    if listing != action:
        script = service.template.actions[listing]["script"]
        try:
            output = _run(service, script, {}).output
        except (hv.GuestScriptFailed, *AGENT_DOWN):
            return
    _remember(service, LISTINGS[listing], {"output": output})


def _applied(output):
    """How a configuration change took effect (config-set says), for the Operation's message."""
    if not isinstance(output, dict):
        return ""
    if output.get("restarted"):
        return f": the server restarted (for {', '.join(output.get('restart_for') or ['the change'])})"
    if output.get("reloaded"):
        return ": the configuration reloaded, no restart"
    return ""


def _run(service, script, arguments, timeout=None):
    instance, template = service.instance, service.template
    limit = {"timeout": timeout} if timeout is not None else {}
    return hv.run_script(
        instance.host.uri, str(instance.uuid), script, arguments, allowed=template.allowed_scripts(), **limit
    )


def _wait_for(op_id, limit_s, sleep=time.sleep):
    """The finished Operation ``op_id`` (compute's), or ActionError after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while True:
        op = Operation.objects.get(pk=op_id)
        if op.status not in ACTIVE_STATUSES:
            return op
        if time.monotonic() > deadline:
            raise ActionError(f"{op.kind} of {op.target_name} still {op.status} after {limit_s} s")
        sleep(POLL_S)


def _set_state(service, state, reason=""):
    Service.objects.filter(pk=service.pk).update(state=state, status_reason=reason[:500])
    service.state, service.status_reason = state, reason


def _health(service, sleep=time.sleep):
    """Wait for the guest agent (and the template's health script); the reason it is degraded, or ''."""
    instance, template = service.instance, service.template
    uri, uuid = instance.host.uri, str(instance.uuid)
    deadline, last = time.monotonic() + AGENT_WAIT_S, None
    while time.monotonic() < deadline:
        try:
            if HEALTH_ACTION in template.actions:
                script = template.actions[HEALTH_ACTION]["script"]
                hv.run_script(uri, uuid, script, {}, allowed=template.allowed_scripts(), timeout=HEALTH_TIMEOUT_S)
            else:
                hv.guest_ping(uri, uuid)
            return ""
        except hv.GuestAgentUnavailable as exc:
            if instance.host.simulated:
                return f"no guest agent answers: {exc}"
            last = exc
        except (hv.GuestAgentTimeout, hv.GuestScriptFailed) as exc:
            last = exc
        sleep(POLL_S)
    # Worded "guest agent: ..." like an action's agent failure: the next action that gets an
    # answer makes the service active again.
    return f"guest agent: no answer {AGENT_WAIT_S} s after the start: {last}"


def _storage(verb, *args):
    """Run a storage verb and its task here and now (operations.run_inline), so this task can go
    on with its result; ActionError when it did not succeed. Inside a project purge (itself a
    run_inline) the verb's task is queued behind this one instead."""
    try:
        return operations.run_inline(verb, *args)
    except RuntimeError as exc:
        if "does not nest" not in str(exc):
            raise
        return verb(*args)


def _attach(user, volume, instance):
    """``volume`` attached to ``instance``; its target (vdb, vdc...)."""
    _storage(storage.attach_volume, user, Volume.objects.get(pk=volume.pk), instance)
    volume.refresh_from_db()
    return volume.target_dev


def _detach(user, volume):
    volume.refresh_from_db()
    if volume.instance_id is not None:
        _storage(storage.detach_volume, user, volume)
        volume.refresh_from_db()


def _hook(service, hook, timeout):
    return _run(service, service.template.hooks[hook], {}, timeout=timeout)


def _run_hook_guarded(service, hook, timeout):
    """A hook script; the agent not answering makes the service degraded, like an action."""
    try:
        return _hook(service, hook, timeout)
    except AGENT_DOWN as exc:
        _set_state(service, ServiceState.DEGRADED, f"guest agent: {exc}")
        raise


def _waited(op_id, what):
    done = _wait_for(op_id, BUILD_WAIT_S)
    if done.status != OperationStatus.SUCCEEDED:
        raise ActionError(f"{what}: {done.error or done.message or done.status}")
    return done


def _restore(op, service, backup):
    """Attach the backup's volume to the new service, run the restore hook, detach it again."""
    user = op.requester
    try:
        operations.progress(op, 85, f"attaching backup {backup.name}")
        _attach(user, backup.volume, service.instance)
        operations.progress(op, 88, f"restoring backup {backup.name}")
        result = _run_hook_guarded(service, "restore", BACKUP_TIMEOUT_S)
        op.detail = {**op.detail, "restore": result.output, "restore_s": round(result.duration_s, 2)}
        op.save(update_fields=["detail"])
        operations.progress(op, 95, f"detaching backup {backup.name}")
    finally:
        try:
            _detach(user, backup.volume)
        finally:
            Backup.objects.filter(pk=backup.pk, state=BackupState.RESTORING).update(state=BackupState.AVAILABLE)
    return result


@shared_task(bind=True, name="catalog.tasks.build_service", **LONG_JOB)
def build_service(self, op_id):
    def work(op):
        service = Service.objects.select_related("template", "instance__host", "data_volume").get(pk=op.target_id)
        backup = Backup.objects.select_related("volume").filter(pk=op.detail.get("backup")).first()
        try:
            return _build(op, service, backup)
        except BaseException as exc:
            if service.state == ServiceState.BUILDING:
                _set_state(service, ServiceState.ERROR, str(exc))
            if backup is not None:
                Backup.objects.filter(pk=backup.pk, state=BackupState.RESTORING).update(state=BackupState.AVAILABLE)
            raise

    return run_operation(op_id, work, self.request.id or "")


def _build(op, service, backup):
    built = _wait_for(op.detail["instance_operation"], BUILD_WAIT_S)
    if built.status != OperationStatus.SUCCEEDED:
        _set_state(service, ServiceState.ERROR, f"instance: {built.error or built.message or built.status}")
        raise ActionError(f"The service's instance was not built: {built.error or built.status}")
    service.instance.refresh_from_db()
    if service.data_volume is not None:
        operations.progress(op, 50, "instance running; attaching the data volume")
        _waited(op.detail["data_volume_operation"], "the data volume was not made")
        _attach(op.requester, service.data_volume, service.instance)
        service.instance.refresh_from_db()
    operations.progress(op, 60, "waiting for the guest agent")
    reason = _health(service)
    if reason:
        _set_state(service, ServiceState.DEGRADED, reason)
        if service.data_volume is not None or backup is not None:
            raise ActionError(f"The service's data volume was not set up: {reason}")
        return f"Service {service.name} degraded: {reason}"
    if service.data_volume is not None:
        operations.progress(op, 75, "moving the data onto the data volume")
        moved = _run_hook_guarded(service, "data-volume", DATA_VOLUME_TIMEOUT_S)
        op.detail = {**op.detail, "data_volume_setup": moved.output, "data_volume_s": round(moved.duration_s, 2)}
        op.save(update_fields=["detail"])
    restored = ""
    if service.replica_of_id is not None:
        restored = _replicate(op, service)
    if backup is not None:
        result = _restore(op, service, backup)
        restored = f"; backup {backup.name} restored in {result.duration_s:.1f} s"
    _set_state(service, ServiceState.ACTIVE)
    return f"Service {service.name} active{restored}"


REPLICA_SETUP_TIMEOUT_S = 3600  # pg_basebackup of the whole primary over the tenant network
PASSWORD_BYTES = 24


def ipv4_networks(instance):
    """{network id: the instance's IPv4 address on it} (a replica streams over one of them)."""
    found = {}
    for network_id, address in IPAllocation.objects.filter(port__instance=instance).values_list(
        "port__network_id", "address"
    ):
        if ":" not in address:
            found.setdefault(network_id, address)
    return found


def stream_addresses(primary_instance, replica_instance):
    """(the primary's, the replica's) IPv4 address on the first network both are on, or (None, None)."""
    theirs, ours = ipv4_networks(primary_instance), ipv4_networks(replica_instance)
    shared = sorted(set(theirs) & set(ours))
    return (theirs[shared[0]], ours[shared[0]]) if shared else (None, None)


def _replicate(op, service):
    """Let the new replica in on its primary (the replication role's password, generated once
    and kept sealed on the primary; a pg_hba.conf line for the replica's address) and copy the
    primary into it (pg_basebackup -R), over a network both are on."""
    primary = Service.objects.select_related("template", "instance__host").get(pk=service.replica_of_id)
    if primary.instance is None:
        raise ActionError(f"The primary {primary.name} has no VM")
    theirs, ours = stream_addresses(primary.instance, service.instance)
    if theirs is None:
        raise ActionError(f"The replica shares no IPv4 network with its primary {primary.name}")
    password = primary.replication_password()
    if password is None:
        password = secrets.token_urlsafe(PASSWORD_BYTES)
        primary.set_replication_password(password)
        Service.objects.filter(pk=primary.pk).update(
            replication_password_encrypted=primary.replication_password_encrypted
        )
    slot = {}
    if "replication-revoke" in primary.template.hooks:  # a slot only where it can be dropped again
        slot = {"slot": f"nubes_replica_{service.pk}"}
        Service.objects.filter(pk=service.pk).update(replication_slot=slot["slot"])
    operations.progress(op, 80, f"letting the replica in on {primary.name}")
    _run(primary, primary.template.hooks["replication-allow"], {"address": ours, "password": password, **slot})
    operations.progress(op, 85, f"copying {primary.name} (pg_basebackup)")
    setup = _run(
        service,
        service.template.hooks["replica-setup"],
        {"primary": theirs, "password": password, **slot},
        timeout=REPLICA_SETUP_TIMEOUT_S,
    ).output
    op.detail = {**op.detail, "replica_setup": setup}
    op.save(update_fields=["detail"])
    return f"; a replica of {primary.name} (its copy took {setup.get('seconds', 0):.1f} s)"


@shared_task(bind=True, name="catalog.tasks.promote")
def promote(self, op_id):
    """service.promote: the replica stops following its primary and accepts writes."""

    def work(op):
        service = Service.objects.select_related("template", "instance__host").get(pk=op.target_id)
        primary = Service.objects.select_related("instance").filter(pk=service.replica_of_id).first()
        address = None
        if primary is not None and primary.instance is not None:
            address = stream_addresses(primary.instance, service.instance)[1]
        result = _run_hook_guarded(service, "replica-promote", 120)
        Service.objects.filter(pk=service.pk).update(replica_of=None, replication_slot="")
        _remember(service, "replication", {"output": {"role": "primary", "replicas": []}})
        op.detail = {**op.detail, "output": result.output}
        op.save(update_fields=["detail"])
        # It no longer streams: its line (and slot) on the old primary go too.
        revoked = revoke_on_primary(op, service.replica_of_id, address, service.replication_slot)
        return f"Service {service.name} promoted in {result.output.get('seconds', 0):.1f} s; it accepts writes{revoked}"

    return run_operation(op_id, work, self.request.id or "")


def _fail_backup(backup, reason):
    Backup.objects.filter(pk=backup.pk).update(state=BackupState.ERROR, status_reason=str(reason)[:500])


@shared_task(bind=True, name="catalog.tasks.back_up", **LONG_JOB)
def back_up(self, op_id):
    """service.backup: the backup's volume made (storage), attached to the service's VM, the
    template's backup script run, the volume detached; the Backup row records what it reported."""

    def work(op):
        service = Service.objects.select_related("template", "instance__host").get(pk=op.target_id)
        backup = Backup.objects.select_related("volume").get(pk=op.detail["backup"])
        started = timezone.now()
        Backup.objects.filter(pk=backup.pk).update(started=started)
        try:
            operations.progress(op, 10, "making the backup volume")
            _waited(op.detail["volume_operation"], "the backup volume was not made")
            operations.progress(op, 25, "attaching the backup volume")
            target = _attach(op.requester, backup.volume, service.instance)
            operations.progress(op, 40, f"dumping onto the backup volume ({target})")
            try:
                result = _run_hook_guarded(service, "backup", BACKUP_TIMEOUT_S)
            finally:
                operations.progress(op, 85, "detaching the backup volume")
                _detach(op.requester, backup.volume)
        except BaseException as exc:
            _fail_backup(backup, exc)
            raise
        if service.state == ServiceState.DEGRADED and service.status_reason.startswith("guest agent"):
            _set_state(service, ServiceState.ACTIVE)
        out = result.output
        finished = timezone.now()
        Backup.objects.filter(pk=backup.pk).update(
            state=BackupState.AVAILABLE,
            databases=out.get("databases", []),
            size_bytes=out.get("size_bytes"),
            dump_bytes=out.get("dump_bytes"),
            dump_s=out.get("seconds"),
            finished=finished,
            duration_s=round((finished - started).total_seconds(), 2),
        )
        mib = (out.get("size_bytes") or 0) / 2**20
        return f"Backup {backup.name}: {mib:.1f} MiB of databases dumped in {out.get('seconds', 0):.1f} s"

    return run_operation(op_id, work, self.request.id or "")


@shared_task(bind=True, name="catalog.tasks.run_action")
def run_action(self, op_id, sealed_arguments):
    def work(op):
        arguments = sealed.unseal(sealed_arguments)
        service = Service.objects.select_related("template", "instance__host").get(pk=op.target_id)
        try:
            result = _run(service, op.detail["script"], arguments, ACTION_TIMEOUTS_S.get(op.detail["script"]))
        except AGENT_DOWN as exc:
            _set_state(service, ServiceState.DEGRADED, f"guest agent: {exc}")
            raise
        if service.state == ServiceState.DEGRADED and service.status_reason.startswith("guest agent"):
            _set_state(service, ServiceState.ACTIVE)
        op.detail = {**op.detail, "output": result.output, "duration_s": round(result.duration_s, 2)}
        op.save(update_fields=["detail"])
        _list_after(service, op.detail["action"], result.output)
        return f"{op.detail['action']} done in {result.duration_s:.1f} s{_applied(result.output)}"

    return run_operation(op_id, work, self.request.id or "")


GROW_TIMEOUT_S = 600  # resize2fs online
GROW_SEEN_S = 60  # the guest sees a live block resize at once; a loaded TCG guest may lag


@shared_task(bind=True, name="catalog.tasks.grow_data_volume")
def grow_data_volume(self, op_id):
    """After storage grew the attached data volume (its own Operation, awaited here), the grow
    hook grows the filesystem in the guest until it spans the new size."""

    def work(op):
        service = Service.objects.select_related("template", "instance__host").get(pk=op.target_id)
        _waited(op.detail["volume_operation"], "the data volume did not grow")
        operations.progress(op, 50, "growing the filesystem in the guest")
        wanted = op.detail["size_gb"] * 2**30
        deadline = time.monotonic() + GROW_SEEN_S
        while True:
            out = _run_hook_guarded(service, "grow", GROW_TIMEOUT_S).output
            if out.get("size_bytes", 0) >= wanted or time.monotonic() > deadline:
                break
            time.sleep(POLL_S)
        op.detail = {**op.detail, "output": out}
        op.save(update_fields=["detail"])
        if out.get("size_bytes", 0) < wanted:
            raise ActionError(
                f"The guest still sees {out.get('size_bytes', 0) / 2**30:.1f} GiB after {GROW_SEEN_S} s; "
                f"the volume is {op.detail['size_gb']} GiB, run the grow again"
            )
        fs_gib = out.get("filesystem_bytes", 0) / 2**30
        return f"Data volume grown to {op.detail['size_gb']} GiB live; its filesystem is {fs_gib:.1f} GiB"

    return run_operation(op_id, work, self.request.id or "")


@shared_task(bind=True, name="catalog.tasks.read_log")
def read_log(self, op_id):
    """The tail of the template's server log, read through the agent into the service's inventory."""

    def work(op):
        service = Service.objects.select_related("template", "instance__host").get(pk=op.target_id)
        instance, template = service.instance, service.template
        chunk = hv.guest_file_read(
            instance.host.uri,
            str(instance.uuid),
            template.log_path,
            allowed_prefixes=template.readable_paths,
            offset=-LOG_TAIL_BYTES,
        )
        text = chunk.data.decode("utf-8", errors="replace")
        if chunk.offset > 0:  # the first line was cut by the offset
            text = text.partition("\n")[2]
        _remember(service, "log", {"text": text, "path": template.log_path})
        return f"{len(chunk.data)} bytes of {template.log_path}"

    return run_operation(op_id, work, self.request.id or "")


@shared_task(bind=True, name="catalog.tasks.delete_service", **LONG_JOB)
def delete_service(self, op_id):
    def work(op):
        service = Service.objects.get(pk=op.target_id)
        revoked = ""
        if op.detail.get("primary"):  # a replica: its line and slot on the primary go first
            revoked = revoke_on_primary(
                op, op.detail["primary"], op.detail.get("replica_address"), op.detail.get("replication_slot", "")
            )
        instance_op = op.detail.get("instance_operation")
        if instance_op is not None:
            done = _wait_for(instance_op, BUILD_WAIT_S)
            if done.status != OperationStatus.SUCCEEDED:
                _set_state(service, ServiceState.ERROR, f"instance delete: {done.error or done.status}")
                raise ActionError(f"The service's instance was not deleted: {done.error or done.status}")
        name, volume_id = service.name, service.data_volume_id
        service.delete()
        # Read again now: the instance's delete released it (available, detached) after this
        # task loaded the service. Backups are kept.
        volume = Volume.objects.filter(pk=volume_id).first() if volume_id else None
        if volume is not None:
            _storage(storage.delete_volume, op.requester, volume)
        return f"Service {name} deleted{revoked}"

    return run_operation(op_id, work, self.request.id or "")


from catalog.tasks.replicas import revoke_on_primary  # noqa: E402

# The resize task lives in its own module (it builds on the helpers above); imported here so
# Celery's autodiscovery of catalog.tasks registers it.
from catalog.tasks.resize import resize_service as resize_service  # noqa: E402
