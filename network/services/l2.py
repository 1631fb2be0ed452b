"""Verbs for networks, subnets and ports: check the rules, write the intended state, queue
the Operation that realises it."""

from django.db import IntegrityError, transaction

from network import backends, ipam
from network import conf as net_settings
from network.choices import (
    PROVIDER_TYPES,
    TUNNEL_KEY_ATTEMPTS,
    DeviceOwner,
    SegmentType,
    State,
)
from network.models import Network, Port, Subnet
from network.segments import next_tunnel_key
from network.services.common import REMOVE_TASK, queue, require_staff, save_changes, unique_mac
from network.services.security import ensure_default_group
from portal import quotas
from portal.errors import ActionError, Conflict

NETWORK_ADMIN_FIELDS = ("shared", "external", "physical_network", "vlan_id")


# --- networks -------------------------------------------------------------------------------


def create_network(user, project, *, name, segment_type=None, description="", mtu=None, **admin_fields):
    """A network in `project`. Provider segments, shared and external flags are for cloud admins."""
    backend = backends.configured()
    segment_type = segment_type or (SegmentType.VXLAN if _overlay() == "vxlan" else SegmentType.GENEVE)
    if segment_type in PROVIDER_TYPES or any(admin_fields.get(f) for f in NETWORK_ADMIN_FIELDS):
        require_staff(user, "create provider, shared or external networks")
    network = Network(
        project=project,
        name=name,
        description=description,
        segment_type=segment_type,
        mtu=mtu,
        backend=backend.name,
        **admin_fields,
    )
    network.full_clean(exclude=["tunnel_key"])
    if segment_type == SegmentType.VLAN and _vlan_taken(network):
        raise Conflict(f"VLAN {network.vlan_id} on {network.physical_network} is already a network.", field="vlan_id")
    with transaction.atomic():
        quotas.take(project, networks=1)
        taken = backend.tunnel_keys_in_use()
        for _ in range(TUNNEL_KEY_ATTEMPTS):
            network.tunnel_key = next_tunnel_key(segment_type, taken)
            try:
                with transaction.atomic():
                    network.save()
                break
            except IntegrityError:
                network.pk = None  # a concurrent request took the key (or the VLAN): try again
        else:
            raise Conflict("Could not allocate a tunnel key; try again.")
        if backend.supports_security_groups:
            ensure_default_group(project)
        op = queue("network.create", network, user)
    return network, op


def _vlan_taken(network):
    return Network.objects.filter(
        segment_type=SegmentType.VLAN, physical_network=network.physical_network, vlan_id=network.vlan_id
    ).exists()


def _overlay():
    return net_settings.overlay_type()


def update_network(user, network, **fields):
    if any(f in fields for f in NETWORK_ADMIN_FIELDS):
        require_staff(user, "change provider, shared or external settings")
    return save_changes(user, network, "network.update", fields)


def delete_network(user, network):
    if network.ports.exclude(state=State.DELETING).exists():
        raise Conflict("The network still has ports; delete them (and router interfaces) first.")
    if network.floating_ips.exists() or network.gateway_routers.exists():
        raise Conflict("Floating IPs or router gateways still use this network.")
    with transaction.atomic():
        Network.objects.filter(pk=network.pk).update(state=State.DELETING)
        return queue("network.delete", network, user, task=REMOVE_TASK)


# --- subnets --------------------------------------------------------------------------------


def _owned_network(user, network, project=None):
    if network.project_id != (project or network.project).pk or (
        network.project.role_of(user) not in ("admin", "member")
    ):
        raise ActionError("Subnets go on a network of your own project.", field="network")


def create_subnet(user, network, **fields):
    _owned_network(user, network)
    if network.state == State.DELETING:
        raise Conflict("The network is being deleted.")
    subnet = Subnet(project=network.project, network=network, **fields)
    with transaction.atomic():
        Network.objects.select_for_update().get(pk=network.pk)  # one subnet change per network at a time
        subnet.full_clean()
        subnet.save()
        return subnet, queue("subnet.create", subnet, user)


SUBNET_UPDATABLE = ("name", "dns_nameservers", "host_routes", "enable_dhcp", "gateway_ip", "allocation_pools")


def update_subnet(user, subnet, **fields):
    return save_changes(user, subnet, "subnet.update", fields)


def delete_subnet(user, subnet):
    if subnet.allocations.exists():
        raise Conflict("Addresses of this subnet are in use (ports, floating IPs, router gateways, VIPs).")
    with transaction.atomic():
        Subnet.objects.filter(pk=subnet.pk).update(state=State.DELETING)
        return queue("subnet.delete", subnet, user, task=REMOVE_TASK)


# --- ports ----------------------------------------------------------------------------------


def _allocate(port, subnet, address=None):
    try:
        return ipam.allocate(subnet, port=port, address=address)
    except ipam.AddressInUse as exc:
        raise Conflict(str(exc), field="fixed_ips") from None
    except ipam.SubnetFull as exc:
        raise Conflict(str(exc), field="fixed_ips") from None


def _allocate_fixed_ips(port, fixed_ips):
    subnets = list(port.network.subnets.exclude(state=State.DELETING))
    if fixed_ips is None:  # one address per IP version, from the first subnet of each
        chosen = {}
        for subnet in subnets:
            chosen.setdefault(subnet.ip_version, subnet)
        for subnet in chosen.values():
            _allocate(port, subnet)
        return
    by_id = {s.pk: s for s in subnets}
    for entry in fixed_ips:
        subnet = by_id.get(entry.get("subnet")) if entry.get("subnet") else None
        if subnet is None and entry.get("ip_address"):
            subnet = next(
                (s for s in subnets if ipam.parse_address(entry["ip_address"], "fixed_ips") in s.network_obj()), None
            )
        if subnet is None:
            raise ActionError("Each fixed IP needs a subnet (or an address) of the port's network.", field="fixed_ips")
        _allocate(port, subnet, entry.get("ip_address"))


def create_port(
    user,
    project,
    network,
    *,
    name="",
    fixed_ips=None,
    mac_address=None,
    port_security=True,
    security_groups=None,
    admin_state_up=True,
    device_owner=DeviceOwner.FREE,
    instance=None,
    queue_op=True,
):
    """A port on a network the project owns or that is shared. fixed_ips: [{subnet, ip_address}]."""
    if not Network.objects.usable_in(project).filter(pk=network.pk).exists():
        raise ActionError("Ports go on a network of your project or a shared one.", field="network")
    backend = backends.for_name(network.backend)
    if security_groups and not backend.supports_security_groups:
        backend.require("security_groups", "security groups")
    for group in security_groups or ():
        if group.project_id != project.pk:
            raise ActionError("Security groups must belong to the port's project.", field="security_groups")
    port = Port(
        project=project,
        network=network,
        name=name,
        mac_address=(mac_address or unique_mac()).lower(),
        port_security=port_security,
        admin_state_up=admin_state_up,
        device_owner=device_owner,
        instance=instance,
        device_id=str(instance.uuid) if instance is not None else "",
    )
    port.full_clean(exclude=["instance"])
    with transaction.atomic():
        try:
            with transaction.atomic():
                port.save()
        except IntegrityError:
            raise Conflict(f"MAC address {port.mac_address} is in use.", field="mac_address") from None
        _allocate_fixed_ips(port, fixed_ips)
        if (
            backend.supports_security_groups
            and port_security
            and device_owner in (DeviceOwner.FREE, DeviceOwner.INSTANCE)
        ):
            port.security_groups.set(
                security_groups if security_groups is not None else [ensure_default_group(project)]
            )
        op = queue("port.create", port, user) if queue_op else None
    return port, op


def update_port(user, port, *, security_groups=None, **fields):
    backend = backends.for_name(port.network.backend)
    with transaction.atomic():
        for field, value in fields.items():
            setattr(port, field, value)
        port.full_clean(exclude=["instance"])
        port.save()
        if security_groups is not None:
            if security_groups:
                backend.require("security_groups", "security groups")
            if any(group.project_id != port.project_id for group in security_groups):
                raise ActionError("Security groups must belong to the port's project.", field="security_groups")
            port.security_groups.set(security_groups)
        return port, queue("port.update", port, user)


def delete_port(user, port, *, queue_op=True):
    if port.device_owner in (DeviceOwner.ROUTER_INTERFACE, DeviceOwner.ROUTER_GATEWAY):
        raise Conflict("This port belongs to a router; remove the router interface or gateway instead.")
    with transaction.atomic():
        routers = list(port.floating_ips.exclude(router=None).values_list("router_id", flat=True))
        port.floating_ips.update(port=None, fixed_ip=None, router=None)
        Port.objects.filter(pk=port.pk).update(state=State.DELETING)
        return queue("port.delete", port, user, task=REMOVE_TASK, routers=routers) if queue_op else None
