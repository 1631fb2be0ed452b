"""Catalog verbs: templates (cloud admins), services ordered from them and their actions.

A service is built through compute's own service (the instance, its quota, placement, ports and
create Operation) under one ``service.create`` Operation that waits for it and then for the
guest agent. An action runs one allow-listed script in the guest; its arguments are validated
against the template's schema here, so a bad request is a 400 and nothing reaches the guest.
"""

from django.db import transaction

from catalog import schema, sealed, tasks
from catalog.models import Service, ServiceState, ServiceTemplate
from compute.models import Flavor
from compute.services import instances as compute
from portal import audit, operations
from portal.choices import Role
from portal.errors import ActionError, Conflict, NotPermitted

ACTING_STATES = (ServiceState.ACTIVE, ServiceState.DEGRADED)


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


def order(user, project, *, template, name, flavor, parameters=None, networks=None, request=None):
    """Order a service: its instance through compute, then a service.create Operation."""
    _writable(user, project)
    parameters = parameters if parameters is not None else {}
    check_order(project, template, flavor, parameters)
    if Service.objects.filter(project=project, name=name).exists():
        raise ActionError(f"The project already has a service called {name}.", field="name")
    with transaction.atomic():
        instance, instance_op = compute.create_instance(
            user, project, name=f"svc-{name}", flavor=flavor, image=template.image, networks=networks, request=request
        )
        service = Service.objects.create(
            project=project,
            name=name,
            template=template,
            flavor=flavor,
            instance=instance,
            parameters=parameters,
            created_by=user if user.is_authenticated else None,
        )
        op = operations.begin(
            "service.create",
            service,
            user=user,
            project=project,
            detail={"template": template.name, "instance": instance.pk, "instance_operation": instance_op.pk},
        )
        operations.dispatch(tasks.build_service, op)
    audit.record(user, "service.create", service, request=request, template=template.name)
    return service, op


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
    if service.state not in ACTING_STATES or service.instance is None:
        raise Conflict(f"Service {service.name} is {service.state}; actions need it active or degraded.")
    running = operations.active_on(service)
    if running is not None:
        raise operations.TargetBusy(running)
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


def read_log(user, service, request=None):
    """Queue a read of the tail of the template's server log (service.log); its Operation."""
    _writable(user, service.project)
    if not service.template.log_path:
        raise ActionError(f"Template {service.template.name} names no log.", field="log")
    if service.state not in ACTING_STATES or service.instance is None:
        raise Conflict(f"Service {service.name} is {service.state}; its log is read when it is active or degraded.")
    running = operations.active_on(service)
    if running is not None:
        raise operations.TargetBusy(running)
    with transaction.atomic():
        op = operations.begin("service.log", service, user=user, project=service.project, detail={})
        operations.dispatch(tasks.read_log, op)
    return op


def delete(user, service, request=None):
    """Delete the instance through compute, then the service row (service.delete)."""
    _writable(user, service.project)
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
            detail={"instance_operation": instance_op.pk if instance_op else None},
        )
        operations.dispatch(tasks.delete_service, op)
    audit.record(user, "service.delete", service, request=request)
    return op


__all__ = [
    "ServiceTemplate",
    "check_action",
    "check_order",
    "delete",
    "order",
    "read_log",
    "run_action",
    "save_template",
]
