"""Catalog verbs: templates (cloud admins), services ordered from them and their actions.

A service is built through compute's own service (the instance, its quota, placement, ports and
create Operation) under one ``service.create`` Operation that waits for it and then for the
guest agent. An action runs one allow-listed script in the guest; its arguments are validated
against the template's schema here, so a bad request is a 400 and nothing reaches the guest.
"""

from django.db import transaction
from django.utils import timezone

from catalog import schema, sealed, tasks
from catalog.models import DATA_VOLUME_PARAMETER, Backup, BackupState, Service, ServiceState, ServiceTemplate
from compute.models import Flavor
from compute.services import instances as compute
from compute.services.placement import GroupHint
from portal import audit, operations
from portal.choices import Role
from portal.errors import ActionError, Conflict, NotPermitted
from storage import services as storage
from storage.choices import PoolState
from storage.models import StoragePool

ACTING_STATES = (ServiceState.ACTIVE, ServiceState.DEGRADED)
DEFAULT_DATA_VOLUME_GB = 1
# The action that sets configuration parameters (its arguments schema is the allow-list).
CONFIGURE_ACTION = "config-set"
MIN_BACKUP_VOLUME_GB = 1
# A replica's placement: Nova's policy name (compute's GroupHint), apart from its primary and siblings.
ANTI_AFFINITY = "anti-affinity"


def _staff(user):
    if not user.is_staff:
        raise NotPermitted("Only cloud admins manage the service catalog.")


def _writable(user, project):
    if not user.is_staff and project.role_of(user) not in (Role.ADMIN, Role.MEMBER):
        raise NotPermitted("Readers cannot order or change services.")


def save_template(user, template, flavors=None, request=None):
    """Create or update a template after checking its schemas (ValidationError -> 400)."""
    _staff(user)
    with transaction.atomic():
        template.full_clean()
        template.save()
        if flavors is not None:
            template.flavors.set(flavors)
    audit.record(user, "catalog.template.save", template, request=request)
    return template


def delete_template(user, template, request=None):
    _staff(user)
    if template.services.exists():
        raise Conflict(f"Template {template.name} still has services; delete them first.")
    if template.backups.exists():
        raise Conflict(f"Template {template.name} still has backups; delete them first.")
    audit.record(user, "catalog.template.delete", template, request=request)
    template.delete()


def check_order(project, template, flavor, parameters):
    """The rules an order obeys; ActionError keyed by field."""
    if not template.enabled:
        raise ActionError(f"Template {template.name} is not offered now.", field="template")
    if not template.flavors.filter(pk=flavor.pk).exists():
        names = ", ".join(template.flavors.values_list("name", flat=True)) or "none"
        raise ActionError(f"Template {template.name} runs on flavors {names} only.", field="flavor")
    if not Flavor.objects.usable_in(project).filter(pk=flavor.pk).exists():
        raise ActionError("This flavor is not available to the project.", field="flavor")
    problems = schema.errors(template.parameter_schema, parameters)
    if problems:
        raise ActionError(_describe(problems), field="parameters")


def _describe(problems):
    return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in sorted(problems.items()))


def check_restore(project, template, backup):
    """A backup a new service of ``template`` may be built from (ActionError keyed "backup")."""
    if backup.project_id != project.pk:
        raise ActionError("No such backup in the project.", field="backup")
    if backup.template_id != template.pk or not template.backs_up:
        raise ActionError(f"Backup {backup.name} restores into a {backup.template.name} service only.", field="backup")
    if backup.state != BackupState.AVAILABLE:
        raise Conflict(f"Backup {backup.name} is {backup.state}; a restore needs it available.")


def _idle(service, needs):
    """Conflict unless the service is active or degraded with its VM; TargetBusy while an
    Operation runs on it. ``needs`` ends the message ("actions need it active or degraded.")."""
    if service.state not in ACTING_STATES or service.instance is None:
        raise Conflict(f"Service {service.name} is {service.state}; {needs}")
    running = operations.active_on(service)
    if running is not None:
        raise operations.TargetBusy(running)


def _pool_for(image, host):
    """The active pool of the template's image (by its libvirt name) that ``host`` sees: where the
    service's data and backup volumes go."""
    pool = StoragePool.objects.filter(libvirt_name=image.pool, hosts=host, state=PoolState.ACTIVE).first()
    if pool is None:
        raise ActionError(f"Host {host.name} sees no active storage pool {image.pool} for the service's volumes.")
    return pool


def _volume_name(*parts):
    return "-".join(parts)[:63]


def data_volume_size(template, parameters):
    spec = template.parameter_schema.get("properties", {}).get(DATA_VOLUME_PARAMETER, {})
    return int(parameters.get(DATA_VOLUME_PARAMETER, spec.get("default", DEFAULT_DATA_VOLUME_GB)))


def order(user, project, *, template, name, flavor, parameters=None, networks=None, backup=None, request=None):
    """Order a service: its instance through compute and (template hook data-volume) its data
    volume through storage, then a service.create Operation that attaches the volume, moves the
    data onto it and, given ``backup``, restores that backup into the new service."""
    _writable(user, project)
    parameters = parameters if parameters is not None else {}
    check_order(project, template, flavor, parameters)
    if backup is not None:
        check_restore(project, template, backup)
    if Service.objects.filter(project=project, name=name).exists():
        raise ActionError(f"The project already has a service called {name}.", field="name")
    with transaction.atomic():
        instance, instance_op = compute.create_instance(
            user, project, name=f"svc-{name}", flavor=flavor, image=template.image, networks=networks, request=request
        )
        detail = {"template": template.name, "instance": instance.pk, "instance_operation": instance_op.pk}
        volume = None
        if "data-volume" in template.hooks:
            volume, volume_op = storage.create_volume(
                user,
                project,
                name=_volume_name("svc", name, "data"),
                pool=_pool_for(template.image, instance.host),
                size_gb=data_volume_size(template, parameters),
                description=f"The data of service {name}",
                request=request,
            )
            detail.update(data_volume=volume.pk, data_volume_operation=volume_op.pk)
        if backup is not None:
            if (
                Backup.objects.filter(pk=backup.pk, state=BackupState.AVAILABLE).update(state=BackupState.RESTORING)
                != 1
            ):
                raise Conflict(f"Backup {backup.name} is being restored or deleted already.")
            detail["backup"] = backup.pk
        service = Service.objects.create(
            project=project,
            name=name,
            template=template,
            flavor=flavor,
            instance=instance,
            data_volume=volume,
            restored_from=backup,
            parameters=parameters,
            created_by=user if user.is_authenticated else None,
        )
        op = operations.begin("service.create", service, user=user, project=project, detail=detail)
        operations.dispatch(tasks.build_service, op)
    audit.record(user, "service.create", service, request=request, template=template.name)
    return service, op


def back_up(user, service, *, scheduled=False, request=None):
    """Take a backup now: a new volume in the service's pool (through storage), attached to its VM,
    the template's backup script writing onto it, detached (service.backup); (Backup, Operation)."""
    _writable(user, service.project)
    if not service.template.backs_up:
        raise ActionError(f"Template {service.template.name} has no backups.", field="service")
    _idle(service, "a backup needs it active or degraded.")
    name = stamp = f"{service.name[:40]}-{timezone.now():%Y%m%d-%H%M%S}"
    for n in range(2, 100):  # two in one second (the schedule's beside one on demand)
        if not Backup.objects.filter(project=service.project, name=name).exists():
            break
        name = f"{stamp}-{n}"
    data = service.data_volume
    with transaction.atomic():
        volume, volume_op = storage.create_volume(
            user,
            service.project,
            name=_volume_name("backup", name),
            pool=data.pool if data is not None else _pool_for(service.template.image, service.instance.host),
            size_gb=max(MIN_BACKUP_VOLUME_GB, data.size_gb if data is not None else MIN_BACKUP_VOLUME_GB),
            description=f"A backup of service {service.name}",
            request=request,
        )
        backup = Backup.objects.create(
            project=service.project,
            name=name,
            service=service,
            service_name=service.name,
            template=service.template,
            volume=volume,
            scheduled=scheduled,
            created_by=user if user.is_authenticated else None,
        )
        op = operations.begin(
            "service.backup",
            service,
            user=user,
            project=service.project,
            detail={"backup": backup.pk, "backup_name": name, "volume": volume.pk, "volume_operation": volume_op.pk},
        )
        operations.dispatch(tasks.back_up, op)
    audit.record(user, "service.backup", service, request=request, backup=name)
    return backup, op


def delete_backup(user, backup, request=None):
    """Delete a backup: its volume through storage (the Backup row goes with the volume); that Operation."""
    _writable(user, backup.project)
    if backup.state not in (BackupState.AVAILABLE, BackupState.ERROR):
        raise Conflict(f"Backup {backup.name} is {backup.state}; it is deleted when available or failed.")
    if backup.volume.instance_id is not None:
        raise Conflict(f"Backup {backup.name}'s volume is still attached to {backup.volume.instance}.")
    with transaction.atomic():
        op = storage.delete_volume(user, backup.volume, request=request)
        Backup.objects.filter(pk=backup.pk).update(state=BackupState.DELETING)
    audit.record(user, "service.backup.delete", backup, request=request)
    return op


def set_backup_schedule(user, service, every_hours, keep, request=None):
    """Scheduled backups (beat): one every ``every_hours`` (None: none), the newest ``keep`` kept."""
    _writable(user, service.project)
    if every_hours is not None and not service.template.backs_up:
        raise ActionError(f"Template {service.template.name} has no backups.", field="every_hours")
    if every_hours is not None and not 1 <= every_hours <= 24 * 7:
        raise ActionError("Back up every 1 to 168 hours.", field="every_hours")
    if not 1 <= keep <= 100:
        raise ActionError("Keep 1 to 100 scheduled backups.", field="keep")
    Service.objects.filter(pk=service.pk).update(backup_every_hours=every_hours, backup_keep=keep)
    service.backup_every_hours, service.backup_keep = every_hours, keep
    audit.record(user, "service.backup.schedule", service, request=request, every_hours=every_hours, keep=keep)
    return service


def check_action(service, action, arguments):
    """400 for an unknown action or bad arguments: checked before anything is queued."""
    template = service.template
    if action not in template.actions:
        known = ", ".join(sorted(template.actions)) or "none"
        raise ActionError(f"Unknown action {action!r} for template {template.name} (actions: {known}).", field="action")
    if not isinstance(arguments, dict):
        raise ActionError("Arguments are a JSON object.", field="arguments")
    problems = schema.errors(template.action_arguments_schema(action), arguments)
    if problems:
        raise ActionError(_describe(problems), field="arguments")


def run_action(user, service, action, arguments=None, request=None):
    """Queue one action (an allow-listed script in the guest); its Operation."""
    _writable(user, service.project)
    arguments = arguments if arguments is not None else {}
    check_action(service, action, arguments)
    _idle(service, "actions need it active or degraded.")
    secrets = schema.secret_fields(service.template.action_arguments_schema(action))
    shown = {key: ("***" if key in secrets else value) for key, value in arguments.items()}
    with transaction.atomic():
        op = operations.begin(
            f"service.action.{action}",
            service,
            user=user,
            project=service.project,
            detail={"action": action, "script": service.template.actions[action]["script"], "arguments": shown},
        )
        # The arguments (passwords too) travel sealed: the broker and the stored task arguments
        # see a Fernet token only.
        operations.dispatch(tasks.run_action, op, sealed.seal(arguments))
    audit.record(user, f"service.action.{action}", service, request=request)
    return op


class ParameterErrors(ActionError):
    """Configuration parameters refused (off the allow-list, wrong type, out of range): a 400
    with the messages of each parameter in ``problems``."""

    def __init__(self, problems):
        self.problems = problems
        super().__init__(_describe(problems), field="parameters")


def configure(user, service, parameters, request=None):
    """Set configuration parameters through the template's config-set action (validated against
    its allow-list first: a 400 and nothing run in the guest); its Operation."""
    _writable(user, service.project)
    if CONFIGURE_ACTION not in service.template.actions:
        raise ActionError(f"Template {service.template.name} has no configuration parameters.", field="parameters")
    if not isinstance(parameters, dict):
        raise ParameterErrors({"non_field_errors": ["A JSON object of parameters."]})
    problems = schema.errors(service.template.action_arguments_schema(CONFIGURE_ACTION), parameters)
    if problems:
        raise ParameterErrors(problems)
    return run_action(user, service, CONFIGURE_ACTION, parameters, request=request)


def grow_data_volume(user, service, size_gb, request=None):
    """Grow the service's data volume live: storage's resize of the attached volume (its quota
    and pool checks here, a 400 or 403 before anything runs), then the template's grow hook
    grows the filesystem on it inside the guest, online (service.grow); its Operation."""
    _writable(user, service.project)
    volume = service.data_volume
    if "grow" not in service.template.hooks or volume is None:
        raise ActionError(f"Service {service.name} has no data volume that grows.", field="data_volume_gb")
    spec = service.template.parameter_schema.get("properties", {}).get(DATA_VOLUME_PARAMETER, {})
    if isinstance(size_gb, bool) or not isinstance(size_gb, int) or size_gb <= volume.size_gb:
        raise ActionError(f"Give more than the data volume's {volume.size_gb} GiB.", field="data_volume_gb")
    if "maximum" in spec and size_gb > spec["maximum"]:
        raise ActionError(f"The data volume is at most {spec['maximum']} GiB.", field="data_volume_gb")
    _idle(service, "it grows when it is active or degraded.")
    with transaction.atomic():
        volume_op = storage.resize_volume(user, volume, size_gb, request=request)
        op = operations.begin(
            "service.grow",
            service,
            user=user,
            project=service.project,
            detail={
                "volume": volume.pk,
                "from_gb": volume.size_gb,
                "size_gb": size_gb,
                "volume_operation": volume_op.pk,
            },
        )
        operations.dispatch(tasks.grow_data_volume, op)
    audit.record(user, "service.grow", service, request=request, size_gb=size_gb)
    return op


def read_log(user, service, request=None):
    """Queue a read of the tail of the template's server log (service.log); its Operation."""
    _writable(user, service.project)
    if not service.template.log_path:
        raise ActionError(f"Template {service.template.name} names no log.", field="log")
    _idle(service, "its log is read when it is active or degraded.")
    with transaction.atomic():
        op = operations.begin("service.log", service, user=user, project=service.project, detail={})
        operations.dispatch(tasks.read_log, op)
    return op


def add_replica(user, primary, *, name, flavor=None, request=None):
    """Order a streaming replica of ``primary``: a new service of its template, on another host
    than the primary and its other replicas (anti-affinity), on the primary's networks; its
    service.create Operation lets it in on the primary (replication-allow) and copies the
    primary there (replica-setup: pg_basebackup -R over the tenant network). (Service, Operation)."""
    _writable(user, primary.project)
    template = primary.template
    if not template.replicates:
        raise ActionError(f"Template {template.name} has no replicas.", field="replica")
    if primary.replica_of_id is not None:
        raise ActionError(f"Service {primary.name} is a replica; add replicas to its primary.", field="replica")
    flavor = flavor or primary.flavor
    check_order(primary.project, template, flavor, primary.parameters)
    if Service.objects.filter(project=primary.project, name=name).exists():
        raise ActionError(f"The project already has a service called {name}.", field="name")
    _idle(primary, "a replica is added to an active primary.")
    if not tasks.ipv4_networks(primary.instance):
        raise ActionError(f"Service {primary.name} has no IPv4 network a replica could stream over.", field="replica")
    with transaction.atomic():
        apart = [primary.instance.host_id] + [
            r.instance.host_id for r in primary.replicas.select_related("instance") if r.instance is not None
        ]
        group = GroupHint(id=f"service-{primary.pk}", policy=ANTI_AFFINITY, member_hosts=tuple(apart))
        instance, instance_op = compute.create_instance(
            user,
            primary.project,
            name=f"svc-{name}",
            flavor=flavor,
            image=template.image,
            networks=sorted(tasks.ipv4_networks(primary.instance)),
            group=group,
            request=request,
        )
        detail = {
            "template": template.name,
            "instance": instance.pk,
            "instance_operation": instance_op.pk,
            "replica_of": primary.pk,
        }
        volume = None
        if "data-volume" in template.hooks:
            volume, volume_op = storage.create_volume(
                user,
                primary.project,
                name=_volume_name("svc", name, "data"),
                pool=_pool_for(template.image, instance.host),
                size_gb=primary.data_volume.size_gb
                if primary.data_volume
                else data_volume_size(template, primary.parameters),
                description=f"The data of service {name}, a replica of {primary.name}",
                request=request,
            )
            detail.update(data_volume=volume.pk, data_volume_operation=volume_op.pk)
        service = Service.objects.create(
            project=primary.project,
            name=name,
            template=template,
            flavor=flavor,
            instance=instance,
            data_volume=volume,
            replica_of=primary,
            parameters=primary.parameters,
            created_by=user if user.is_authenticated else None,
        )
        op = operations.begin("service.create", service, user=user, project=primary.project, detail=detail)
        operations.dispatch(tasks.build_service, op)
    audit.record(user, "service.replica.create", service, request=request, primary=primary.name)
    return service, op


def promote(user, replica, request=None):
    """The replica stops following its primary and accepts writes (service.promote); its Operation."""
    _writable(user, replica.project)
    if replica.replica_of_id is None:
        raise ActionError(f"Service {replica.name} is not a replica.", field="replica")
    _idle(replica, "a replica is promoted when it is active or degraded.")
    with transaction.atomic():
        op = operations.begin(
            "service.promote",
            replica,
            user=user,
            project=replica.project,
            detail={"primary": replica.replica_of_id, "primary_name": replica.replica_of.name},
        )
        operations.dispatch(tasks.promote, op)
    audit.record(user, "service.promote", replica, request=request)
    return op


def _replica_leftovers(service):
    """A replica's line and slot on its primary, for the delete to remove (read now: the VM's
    address goes with its ports)."""
    primary = service.replica_of
    if primary is None:
        return {}
    address = None
    if primary.instance is not None and service.instance is not None:
        address = tasks.stream_addresses(primary.instance, service.instance)[1]
    return {"primary": primary.pk, "replica_address": address, "replication_slot": service.replication_slot}


def delete(user, service, request=None):
    """Delete the instance through compute, then the service row (service.delete)."""
    _writable(user, service.project)
    if service.replicas.exclude(state=ServiceState.DELETING).exists():
        names = ", ".join(service.replicas.values_list("name", flat=True))
        raise Conflict(f"Service {service.name} has replicas ({names}); promote or delete them first.")
    running = operations.active_on(service)
    if running is not None:
        raise operations.TargetBusy(running)
    with transaction.atomic():
        instance_op = None
        if service.instance is not None:
            instance_op = compute.delete(user, service.instance, request=request)
        Service.objects.filter(pk=service.pk).update(state=ServiceState.DELETING)
        op = operations.begin(
            "service.delete",
            service,
            user=user,
            project=service.project,
            detail={"instance_operation": instance_op.pk if instance_op else None, **_replica_leftovers(service)},
        )
        operations.dispatch(tasks.delete_service, op)
    audit.record(user, "service.delete", service, request=request)
    return op


# The resize verb lives in its own module (it builds on the helpers above).
from catalog.services.resize import resize  # noqa: E402

__all__ = [
    "ServiceTemplate",
    "resize",
    "add_replica",
    "promote",
    "back_up",
    "check_restore",
    "delete_backup",
    "set_backup_schedule",
    "check_action",
    "check_order",
    "configure",
    "delete",
    "order",
    "grow_data_volume",
    "read_log",
    "run_action",
    "save_template",
]
