"""A service's flavor changed through compute's own resize (service.resize): live where compute
can do it live (more vCPUs within the hotplug headroom, memory within its maximum), otherwise
cold: the VM stopped (PostgreSQL shuts down cleanly on the power button), resized, started, and
the service is active again once its health script answers. Everything that would refuse it
(a flavor the template does not offer, the same flavor, the quota, the host's room) is checked
here, before anything runs: a 400 keyed "flavor"; busy or not active is a 409."""

from django.db import transaction

from catalog import tasks
from catalog.models import ServiceState
from catalog.services import _idle, _writable
from compute.choices import Action
from compute.models import Flavor
from compute.services import instances as compute
from compute.services import placement
from portal import audit, operations
from portal.errors import ActionError
from portal.models import Quota

# Compute's resources a flavor takes (compute.services.instances.resize's quota delta).
FLAVOR_RESOURCES = ("vcpus", "ram_mb", "disk_gb")


def _check_quota(project, delta):
    """The quota a resize would take, refused as a 400 on the flavor (compute's own take, in the
    task, stays the rule; this only answers before anything is stopped)."""
    Quota.ensure_defaults(project)
    for resource, amount in delta.items():
        if amount <= 0:
            continue
        quota = Quota.objects.filter(project=project, resource=resource).first()
        if quota is None or quota.in_use + amount > quota.limit:
            limit, used = (quota.limit, quota.in_use) if quota else (0, 0)
            raise ActionError(
                f"Quota exceeded for {resource}: the resize needs {amount} more, {used} of {limit} in use.",
                field="flavor",
            )


def check_resize(service, flavor):
    """ActionError keyed "flavor" for a flavor the service cannot be resized to; whether compute
    does it live."""
    template, instance = service.template, service.instance
    if instance is None:
        raise ActionError(f"Service {service.name} has no VM to resize.", field="flavor")
    if flavor.pk == service.flavor_id:
        raise ActionError(f"Service {service.name} already runs on flavor {flavor.name}.", field="flavor")
    if not template.flavors.filter(pk=flavor.pk).exists():
        names = ", ".join(template.flavors.order_by("name").values_list("name", flat=True)) or "none"
        raise ActionError(f"Template {template.name} runs on flavors {names} only.", field="flavor")
    if not Flavor.objects.usable_in(service.project).filter(pk=flavor.pk).exists():
        raise ActionError("This flavor is not available to the project.", field="flavor")
    if flavor.disk_gb < instance.disk_gb:
        raise ActionError(
            f"Flavor {flavor.name}'s {flavor.disk_gb} GB root disk is smaller than the VM's {instance.disk_gb} GB.",
            field="flavor",
        )
    delta = {name: getattr(flavor, name) - getattr(instance, name) for name in FLAVOR_RESOURCES}
    _check_quota(service.project, delta)
    try:
        placement.check_fits(instance, flavor)
    except placement.NoValidHost as exc:
        raise ActionError(str(exc), field="flavor") from exc
    return compute.can_resize_live(instance, flavor)


def resize(user, service, flavor, request=None):
    """Resize the service's VM to ``flavor`` (service.resize: the service is "resizing" until its
    health script answers again on the new flavor); its Operation."""
    _writable(user, service.project)
    live = check_resize(service, flavor)
    _idle(service, "it is resized when it is active or degraded.")
    # The VM's own checks (locked, busy with an Operation of compute's, its state) as a 409 now.
    compute.guard(user, service.instance, Action.RESIZE if live else Action.STOP)
    with transaction.atomic():
        op = operations.begin(
            "service.resize",
            service,
            user=user,
            project=service.project,
            detail={
                "flavor": flavor.pk,
                "flavor_name": flavor.name,
                "from_flavor": service.flavor_id,
                "from_flavor_name": service.flavor.name,
                "live": live,
                "was": service.state,
            },
        )
        type(service).objects.filter(pk=service.pk).update(state=ServiceState.RESIZING, status_reason="")
        service.state = ServiceState.RESIZING
        operations.dispatch(tasks.resize_service, op)
    audit.record(user, "service.resize", service, request=request, flavor=flavor.name, live=live)
    return op
