"""Verbs for routers, floating IPs and load balancers (OVN only; the libvirt backend answers
Unsupported before anything is written)."""

from django.core.exceptions import ValidationError
from django.db import transaction

from network import backends, ipam
from network.choices import DeviceOwner, State
from network.models import FloatingIP, LoadBalancer, LoadBalancerMember, Port, Router, RouterInterface, Subnet
from network.services.common import REMOVE_TASK, queue, unique_mac
from network.services.l2 import _allocate, create_port
from network.tasks.objects import remove_object
from portal import quotas
from portal.errors import ActionError, Conflict


def _external_subnet(network):
    if not network.external:
        raise ActionError(
            "That network is not external (no router gateways or floating IPs there).", field="external_network"
        )
    subnet = network.subnets.filter(ip_version=4).exclude(state=State.DELETING).order_by("id").first()
    if subnet is None:
        raise Conflict("The external network has no IPv4 subnet.", field="external_network")
    return subnet


def _set_gateway(router, network):
    router.external_network = network
    router.gateway_port = _gateway_port(router, network, _external_subnet(network))


def _gateway_port(router, network, subnet):
    """The gateway's port lives on the external network, owned by the router's project."""
    port = Port.objects.create(
        project=router.project,
        network=network,
        name=f"gateway of {router.name}"[:63],
        mac_address=unique_mac(),
        port_security=False,
        device_owner=DeviceOwner.ROUTER_GATEWAY,
        device_id=str(router.uuid),
    )
    _allocate(port, subnet)
    return port


def create_router(user, project, *, name, external_network=None, enable_snat=True, routes=()):
    backends.configured().require("routers", "routers")
    router = Router(project=project, name=name, enable_snat=enable_snat, routes=list(routes))
    router.full_clean(exclude=["external_network", "gateway_port"])
    _check_routes(router)
    with transaction.atomic():
        router.save()
        if external_network is not None:
            _set_gateway(router, external_network)
            router.save()
        return router, queue("router.create", router, user)


def update_router(user, router, *, external_network=..., **fields):
    with transaction.atomic():
        for field, value in fields.items():
            setattr(router, field, value)
        _check_routes(router)
        old_gateway = None
        if external_network is not ... and external_network != router.external_network:
            if router.floating_ips.exists():
                raise Conflict("Floating IPs use this router's gateway; disassociate them first.")
            old_gateway = router.gateway_port
            router.external_network, router.gateway_port = None, None
            if external_network is not None:
                _set_gateway(router, external_network)
        router.save()
        if old_gateway is not None:
            old_gateway.ip_allocations.all().delete()
            Router.objects.filter(pk=router.pk).update(gateway_port=router.gateway_port)
            old_gateway.state = State.DELETING
            old_gateway.save(update_fields=["state"])
            transaction.on_commit(lambda: _drop_port_later(old_gateway.pk))
        return router, queue("router.update", router, user)


def _drop_port_later(port_pk):
    port = Port.objects.filter(pk=port_pk).first()
    if port is not None:
        remove_object(port)


def _check_routes(router):
    seen = set()
    for route in router.routes:
        if not isinstance(route, dict) or set(route) != {"destination", "nexthop"}:
            raise ActionError("Routes are {destination, nexthop}.", field="routes")
        destination = ipam.parse_network(route["destination"], "routes")
        nexthop = ipam.parse_address(route["nexthop"], "routes")
        if destination.version != nexthop.version:
            raise ActionError(f"The route to {destination} needs a next hop of the same IP version.", field="routes")
        if (destination, nexthop) in seen:  # OVN holds each route once
            raise ActionError(f"The route to {destination} via {nexthop} is already there.", field="routes")
        seen.add((destination, nexthop))


def add_interface(user, router, subnet):
    """Attach the router to a subnet at the subnet's gateway address."""
    if subnet.project_id != router.project_id:
        raise ActionError("The subnet must be in the router's project.", field="subnet")
    if not subnet.gateway_ip:
        raise ActionError("The subnet has no gateway address for the router.", field="subnet")
    if subnet.ipv6_address_mode and not subnet.ipv6_ra_mode:
        raise ActionError(
            "This IPv6 subnet expects router advertisements from a router outside the cloud "
            "(an address mode without an RA mode); it cannot join a router here.",
            field="subnet",
        )
    if RouterInterface.objects.filter(subnet=subnet).exists():
        raise Conflict("The subnet is already attached to a router.", field="subnet")
    with transaction.atomic():
        port, _ = create_port(
            user,
            router.project,
            subnet.network,
            name=f"{router.name} interface"[:63],
            fixed_ips=[{"subnet": subnet.pk, "ip_address": subnet.gateway_ip}],
            port_security=False,
            device_owner=DeviceOwner.ROUTER_INTERFACE,
            queue_op=False,
        )
        port.device_id = str(router.uuid)
        port.save(update_fields=["device_id"])
        RouterInterface.objects.create(router=router, subnet=subnet, port=port)
        return queue("router.add_interface", router, user)


def remove_interface(user, router, subnet):
    interface = RouterInterface.objects.filter(router=router, subnet=subnet).select_related("port").first()
    if interface is None:
        raise ActionError("The router has no interface on that subnet.", field="subnet")
    if FloatingIP.objects.filter(router=router, port__ip_allocations__subnet=subnet).exists():
        raise Conflict("Floating IPs reach ports on this subnet through the router; disassociate them first.")
    with transaction.atomic():
        port = interface.port
        interface.delete()
        port.state = State.DELETING
        port.device_owner = DeviceOwner.FREE
        port.save(update_fields=["state", "device_owner"])
        op = queue("router.remove_interface", router, user)
        transaction.on_commit(lambda: _drop_port_later(port.pk))
        return op


def delete_router(user, router):
    if router.interfaces.exists():
        raise Conflict("Remove the router's interfaces first.")
    with transaction.atomic():
        router.floating_ips.update(port=None, fixed_ip=None, router=None)
        Router.objects.filter(pk=router.pk).update(state=State.DELETING)
        return queue("router.delete", router, user, task=REMOVE_TASK)


# --- floating IPs ---------------------------------------------------------------------------


def _router_for(fip_network, port):
    """The router joining the port's subnet to the floating IP's external network."""
    subnets = Subnet.objects.filter(allocations__port=port, ip_version=4)
    interface = (
        RouterInterface.objects.filter(subnet__in=subnets, router__external_network=fip_network)
        .select_related("router")
        .first()
    )
    if interface is None:
        raise Conflict("No router connects the port's subnet to the floating IP's network.", field="port")
    return interface.router, port.ip_allocations.filter(subnet=interface.subnet).first().address


def create_floating_ip(user, project, network, *, port=None, name=""):
    backends.configured().require("routers", "floating IPs")
    subnet = _external_subnet(network)
    with transaction.atomic():
        quotas.take(project, floating_ips=1)
        fip = FloatingIP(project=project, network=network, name=name, allocation=_allocate(None, subnet))
        if port is not None:
            _check_port(fip, port)
            fip.port = port
            fip.router, fip.fixed_ip = _router_for(network, port)
        fip.save()
        return fip, queue("floating_ip.create", fip, user, routers=[fip.router_id] if fip.router_id else [])


def _check_port(fip, port):
    if port.project_id != fip.project_id:
        raise ActionError("The port must be in the floating IP's project.", field="port")


def associate(user, fip, port):
    """Point the floating IP at a port (moving it if it pointed elsewhere)."""
    _check_port(fip, port)
    with transaction.atomic():
        old_router = fip.router_id
        fip.port = port
        fip.router, fip.fixed_ip = _router_for(fip.network, port)
        fip.save()
        routers = sorted({r for r in (old_router, fip.router_id) if r})
        return queue("floating_ip.associate", fip, user, routers=routers)


def disassociate(user, fip):
    with transaction.atomic():
        routers = [fip.router_id] if fip.router_id else []
        fip.port, fip.router, fip.fixed_ip = None, None, None
        fip.save()
        return queue("floating_ip.disassociate", fip, user, routers=routers)


def delete_floating_ip(user, fip):
    with transaction.atomic():
        routers = [fip.router_id] if fip.router_id else []
        FloatingIP.objects.filter(pk=fip.pk).update(state=State.DELETING, port=None, router=None, fixed_ip=None)
        return queue("floating_ip.delete", fip, user, task=REMOVE_TASK, routers=routers)


# --- load balancers -------------------------------------------------------------------------


def _hold_monitor_address(lb):
    """Health checks need a source address of their own on the VIP's subnet; returns the
    allocation to free when they were turned off."""
    if lb.health_check and lb.monitor_allocation_id is None:
        lb.monitor_allocation = _allocate(None, lb.subnet)
    elif not lb.health_check and lb.monitor_allocation_id is not None:
        released, lb.monitor_allocation = lb.monitor_allocation, None
        return released
    return None


def _set_members(lb, members):
    lb.members.all().delete()
    seen = set()
    for member in members:
        address = ipam.parse_address(member.get("address"), "members")
        if (address, member.get("port")) in seen:  # the unique constraint would fail later, unexplained
            raise ActionError(f"The member {address}:{member.get('port')} is listed twice.", field="members")
        seen.add((address, member.get("port")))
        try:
            LoadBalancerMember(load_balancer=lb, address=str(address), port=member.get("port")).full_clean(
                exclude=["load_balancer"]
            )
        except ValidationError as exc:  # keyed by the member's fields, which are not the load balancer's
            raise ActionError(
                f"The member {address}:{member.get('port')}: {' '.join(exc.messages)}", field="members"
            ) from None
        if not Subnet.objects.filter(project=lb.project).exists() or not any(
            address in s.network_obj() for s in Subnet.objects.filter(project=lb.project)
        ):
            raise ActionError(f"The member {address} is in none of the project's subnets.", field="members")
        LoadBalancerMember.objects.create(load_balancer=lb, address=str(address), port=member["port"])


def create_load_balancer(user, project, subnet, *, name, protocol, port, members=(), vip_address=None, **health):
    backends.configured().require("load_balancers", "load balancers")
    if subnet.project_id != project.pk:
        raise ActionError("The VIP subnet must be in the load balancer's project.", field="subnet")
    with transaction.atomic():
        quotas.take(project, load_balancers=1)
        lb = LoadBalancer(project=project, subnet=subnet, name=name, protocol=protocol, port=port, **health)
        lb.vip_allocation = _allocate(None, subnet, vip_address)
        _hold_monitor_address(lb)
        lb.full_clean()
        lb.save()
        _set_members(lb, members)
        return lb, queue("load_balancer.create", lb, user)


def update_load_balancer(user, lb, *, members=None, **fields):
    with transaction.atomic():
        for field, value in fields.items():
            setattr(lb, field, value)
        released = _hold_monitor_address(lb)
        lb.full_clean()
        lb.save()
        if released is not None:
            released.delete()
        if members is not None:
            _set_members(lb, members)
        return lb, queue("load_balancer.update", lb, user)


def delete_load_balancer(user, lb):
    with transaction.atomic():
        LoadBalancer.objects.filter(pk=lb.pk).update(state=State.DELETING)
        return queue("load_balancer.delete", lb, user, task=REMOVE_TASK)
