"""What every network verb shares: queue an Operation for an object, and the two things a
task does with one — realise it, or remove it — recording the outcome on the object."""

import random

from django.db import IntegrityError, transaction

from network import backends, tasks
from network.backends.base import BackendError
from network.choices import MAC_ATTEMPTS, MAC_PREFIX, State
from network.models import (
    FloatingIP,
    IPAllocation,
    LoadBalancer,
    Network,
    Port,
    Router,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)
from portal import operations, quotas
from portal.errors import ActionError, NotPermitted
from portal.models import Project

REALISE_TASK = "network.tasks.realise"
REMOVE_TASK = "network.tasks.remove"


def require_staff(user, what):
    if not user.is_staff:
        raise NotPermitted(f"Only cloud admins may {what}.")


def backend_of(obj):
    network = network_of(obj)
    return backends.for_name(network.backend) if network is not None else backends.configured()


def network_of(obj):
    if isinstance(obj, Network):
        return obj
    if isinstance(obj, (Subnet, Port, FloatingIP)):
        return obj.network
    if isinstance(obj, LoadBalancer):
        return obj.subnet.network
    return None


def queue(kind, obj, user, *, task=REALISE_TASK, target=None, **detail):
    """An Operation on `target` (default `obj`) whose task realises or removes `obj`."""

    op = operations.begin(kind, target or obj, user=user, project=obj.project, detail=detail)
    label, pk = obj._meta.label_lower, obj.pk
    run = tasks.realise if task == REALISE_TASK else tasks.remove
    operations.dispatch(run, op, label, pk)
    return op


def save_changes(user, obj, kind, fields, exclude=None):
    """Set fields, validate, save and queue the realising Operation, in one transaction."""
    with transaction.atomic():
        for field, value in fields.items():
            setattr(obj, field, value)
        obj.full_clean(exclude=exclude)
        obj.save()
        return obj, queue(kind, obj, user)


def random_mac():
    return ":".join(f"{b:02x}" for b in (*MAC_PREFIX, *(random.randrange(256) for _ in range(3))))


def unique_mac():
    for _ in range(MAC_ATTEMPTS):
        mac = random_mac()
        if not Port.objects.filter(mac_address=mac).exists():
            return mac
    raise ActionError("Could not find a free MAC address; try again.")


def save_unique(obj, message, field=None):
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise ActionError(message, field=field) from None


# --- what the tasks call ------------------------------------------------------------------


def _realise_steps(obj):
    backend = backend_of(obj)
    if isinstance(obj, (Network, Subnet)):
        return [lambda: backend.realise_network(network_of(obj))]
    if isinstance(obj, Port):
        return [lambda: backend.realise_port(obj)]
    if isinstance(obj, SecurityGroup):
        return [lambda: backend.realise_security_group(obj)]
    if isinstance(obj, SecurityGroupRule):
        return [lambda: backend.realise_security_group(obj.group)]
    if isinstance(obj, Router):
        return [lambda: backend.realise_router(obj)]
    if isinstance(obj, FloatingIP):
        return []  # the routers named in the operation's detail carry the NAT rules
    if isinstance(obj, LoadBalancer):
        return [lambda: backend.realise_load_balancer(obj)]
    raise ActionError(f"Nothing realises a {obj._meta.model_name}.")


def realise_object(obj, op):
    """Make the backend hold `obj`; the object's state says whether it does."""
    try:
        changed = sum((step() or 0) for step in _realise_steps(obj))
        for router in Router.objects.filter(pk__in=op.detail.get("routers", [])):
            changed += backends.configured().realise_router(router) or 0
    except BackendError as exc:
        mark(obj, State.ERROR, str(exc))
        raise
    mark(obj, State.ACTIVE)
    return f"Realised {obj._meta.verbose_name} {obj} ({changed} rows changed)"


def mark(obj, state, reason=""):
    if hasattr(obj, "state"):
        type(obj).objects.filter(pk=obj.pk).update(state=state, state_reason=reason[:500])


def remove_object(obj, op=None):
    """Take `obj` out of the backend, then out of the database (it is already DELETING)."""
    backend = backend_of(obj)
    try:
        if isinstance(obj, Network):
            backend.remove_network(obj)
        elif isinstance(obj, Subnet):
            backend.remove_subnet(obj)
        elif isinstance(obj, Port):
            backend.remove_port(obj)
        elif isinstance(obj, SecurityGroup):
            backend.remove_security_group(obj)
        elif isinstance(obj, Router):
            backend.remove_router(obj)
            if obj.gateway_port_id:
                backend.remove_port(obj.gateway_port)
        elif isinstance(obj, LoadBalancer):
            backend.remove_load_balancer(obj)
    except BackendError as exc:
        mark(obj, State.DELETING, str(exc))
        raise
    forget(obj)
    if op is not None:
        for router in Router.objects.filter(pk__in=op.detail.get("routers", [])):
            backends.configured().realise_router(router)
        if isinstance(obj, (Subnet, Port)) and Network.objects.filter(pk=obj.network_id).exists():
            backend.realise_network(Network.objects.get(pk=obj.network_id))
    return f"Removed {obj._meta.verbose_name} {obj}"


@transaction.atomic
def forget(obj):
    """Delete the rows and give quota back (after the backend let go)."""
    project = Project.objects.get(pk=obj.project_id)
    if isinstance(obj, Network):
        IPAllocation.objects.filter(subnet__network=obj).delete()
        obj.subnets.all().delete()
        obj.delete()
        quotas.give_back(project, networks=1)
    elif isinstance(obj, Router):
        gateway = obj.gateway_port
        obj.delete()
        if gateway is not None:
            gateway.delete()
    elif isinstance(obj, FloatingIP):
        allocation = obj.allocation
        obj.delete()
        allocation.delete()
        quotas.give_back(project, floating_ips=1)
    elif isinstance(obj, LoadBalancer):
        allocations = [obj.vip_allocation, obj.monitor_allocation]
        obj.delete()
        for allocation in filter(None, allocations):
            allocation.delete()
        quotas.give_back(project, load_balancers=1)
    else:
        obj.delete()


def remove_port_group(name):
    """Take one port group out of the backend by name (its security group is already gone)."""
    backend = backends.configured()
    if not backend.supports_security_groups:
        return f"Nothing to remove: the {backend.label} backend has no port groups."
    backend.remove_port_group(name)
    return f"Removed port group {name}"


def finish_pending_deletes(backend):
    """Sync: objects whose deletion failed earlier (OVN was down) are removed now."""
    removed = 0
    for model in (FloatingIP, LoadBalancer, Router, Port, SecurityGroup, Subnet, Network):
        for obj in model.objects.filter(state=State.DELETING):
            if backend_of(obj).name == backend.name and not operations.active_on(obj):
                remove_object(obj)
                removed += 1
    return removed
