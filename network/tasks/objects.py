"""Realise or remove one network object: the Celery tasks (primary keys in, reload, run one
step, record the outcome) and the steps they run against the backend, recording the outcome on
the object. Services queue these; the sync runs ``finish_pending_deletes``."""

from celery import shared_task
from django.apps import apps
from django.db import transaction

from network import backends
from network.backends.base import BackendError
from network.choices import State
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
from portal.errors import ActionError
from portal.models import Project
from portal.tasks import run_operation


def _load(label, pk):
    return apps.get_model(label).objects.filter(pk=pk).first()


@shared_task(bind=True, name="network.tasks.realise")
def realise(self, op_id, label, pk):
    def work(op):
        obj = _load(label, pk)
        if obj is None:
            return "Nothing to do: the object is gone."
        return realise_object(obj, op)

    return run_operation(op_id, work, self.request.id or "")


@shared_task(bind=True, name="network.tasks.remove")
def remove(self, op_id, label, pk):
    def work(op):
        obj = _load(label, pk)
        if obj is None:
            return "Already removed."
        return remove_object(obj, op)

    return run_operation(op_id, work, self.request.id or "")


@shared_task(bind=True, name="network.tasks.remove_port_group")
def remove_port_group(self, op_id, name):
    """A deleted project's default security group: its port group leaves the backend."""
    return run_operation(op_id, lambda op: drop_port_group(name), self.request.id or "")


# --- the steps -----------------------------------------------------------------------------


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


def drop_port_group(name):
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
