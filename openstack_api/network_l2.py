"""Network v2.0 (Neutron) writes of layer 2 over network.services: networks, subnets, ports,
security groups and their rules. Bodies, lists and shows are network.py's."""

import ipaddress

from network import services
from network.choices import Protocol, SegmentType
from openstack_api.base import OsError
from openstack_api.network import created, creating, delete_view, find, updated, updating

# --- networks --------------------------------------------------------------------------------

NETWORK_FIELDS = ("name", "description", "admin_state_up", "shared", "router:external", "mtu", "port_security_enabled")
PROVIDER_FIELDS = ("provider:network_type", "provider:physical_network", "provider:segmentation_id")


def network_create(request):
    data = creating(
        request,
        "network",
        "networks",
        (*NETWORK_FIELDS, *PROVIDER_FIELDS, "availability_zone_hints"),
        admin_state_up=(True, "administratively down networks"),
        port_security_enabled=(True, "networks without port security"),
        availability_zone_hints=([], "availability zones"),
    )
    fields = {"name": str(data.get("name", "")), "description": str(data.get("description", ""))}
    if data.get("mtu") is not None:
        fields["mtu"] = data["mtu"]
    if "provider:network_type" in data:
        fields["segment_type"] = data["provider:network_type"]
        if data["provider:network_type"] not in SegmentType.values:
            raise OsError(400, f"Unknown network type {data['provider:network_type']}.", "InvalidInput")
    admin = {"shared": data.get("shared"), "external": data.get("router:external")}
    if data.get("provider:physical_network"):
        admin["physical_network"] = data["provider:physical_network"]
    if data.get("provider:segmentation_id") is not None:
        admin["vlan_id"] = data["provider:segmentation_id"]
    admin = {k: v for k, v in admin.items() if v}
    network, op = services.create_network(request.user, request.os_project, **fields, **admin)
    return created("network", request, network, op)


def network_update(request, ident):
    network, data = updating(
        request,
        "network",
        ident,
        "networks",
        NETWORK_FIELDS[:-1],
        admin_state_up=(True, "administratively down networks"),
    )
    fields = {key: data[key] for key in ("name", "description", "mtu", "shared") if key in data}
    if "router:external" in data:
        fields["external"] = data["router:external"]
    return updated("network", request, ident, services.update_network(request.user, network, **fields))


network_delete = delete_view("network", services.delete_network, "networks")


# --- subnets ---------------------------------------------------------------------------------

SUBNET_EDITABLE = ("name", "gateway_ip", "allocation_pools", "dns_nameservers", "host_routes", "enable_dhcp")
SUBNET_FIELDS = (
    *SUBNET_EDITABLE,
    *("description", "network_id", "cidr", "ip_version", "ipv6_ra_mode", "ipv6_address_mode"),
    *("subnetpool_id", "prefixlen", "use_default_subnet_pool", "service_types"),
)


def _pools(pools):
    if not isinstance(pools, list) or not all(isinstance(p, dict) and {"start", "end"} <= set(p) for p in pools):
        raise OsError(400, "allocation_pools is a list of {start, end}.", "InvalidInput")
    return [[p["start"], p["end"]] for p in pools]


def _gateway(data):
    """Neutron's default gateway is the first host address; an explicit null means none."""
    if "gateway_ip" in data:
        return data["gateway_ip"]
    try:
        net = ipaddress.ip_network(str(data.get("cidr")), strict=False)
    except ValueError as exc:
        raise OsError(400, f"Invalid input for cidr: {exc}", "InvalidInput") from exc
    return str(net.network_address + 1)


def subnet_create(request):
    data = creating(
        request,
        "subnet",
        "subnets",
        SUBNET_FIELDS,
        subnetpool_id=(None, "subnet pools through this API"),
        use_default_subnet_pool=(False, "subnet pools through this API"),
        prefixlen=(None, "subnet pools through this API"),
        service_types=([], "subnet service types"),
        description=("", "subnet descriptions"),
    )
    if not data.get("cidr"):
        raise OsError(400, "A subnet needs a cidr (subnet pools are not implemented).", "BadRequest")
    network = find("network", request, data.get("network_id"))
    fields = {
        "name": str(data.get("name", "")),
        "cidr": data["cidr"],
        "ip_version": data.get("ip_version", 4),
        "gateway_ip": _gateway(data),
    }
    if data.get("allocation_pools"):
        fields["allocation_pools"] = _pools(data["allocation_pools"])
    for key in ("dns_nameservers", "host_routes", "enable_dhcp", "ipv6_ra_mode", "ipv6_address_mode"):
        if data.get(key) is not None:
            fields[key] = data[key]
    subnet, op = services.create_subnet(request.user, network, **fields)
    return created("subnet", request, subnet, op)


def subnet_update(request, ident):
    subnet, data = updating(request, "subnet", ident, "subnets", SUBNET_EDITABLE)
    if "allocation_pools" in data:
        data["allocation_pools"] = _pools(data["allocation_pools"])
    return updated("subnet", request, ident, services.update_subnet(request.user, subnet, **data))


subnet_delete = delete_view("subnet", services.delete_subnet, "subnets")


# --- ports -----------------------------------------------------------------------------------

PORT_EDITABLE = ("name", "security_groups", "port_security_enabled", "admin_state_up")
PORT_FIELDS = (*PORT_EDITABLE, "network_id", "fixed_ips", "mac_address", "description", "device_id", "device_owner")
PORT_FLAGS = (("port_security_enabled", "port_security"), ("admin_state_up", "admin_state_up"))


def _port_groups(request, ids):
    return [find("security_group", request, ident) for ident in ids or []]


def _fixed_ips(request, fixed):
    found = []
    for entry in fixed or []:
        if not isinstance(entry, dict):
            raise OsError(400, "fixed_ips is a list of {subnet_id, ip_address}.", "InvalidInput")
        item = {}
        if entry.get("subnet_id"):
            item["subnet"] = find("subnet", request, entry["subnet_id"]).pk
        if entry.get("ip_address"):
            item["ip_address"] = entry["ip_address"]
        found.append(item)
    return found


def _port_fields(data):
    fields = {"name": str(data["name"])} if "name" in data else {}
    fields.update({field: bool(data[key]) for key, field in PORT_FLAGS if key in data})
    return fields


def port_create(request):
    data = creating(
        request,
        "port",
        "ports",
        (*PORT_FIELDS, "binding:vnic_type"),
        device_id=("", "binding ports to devices through this API"),
        device_owner=("", "binding ports to devices through this API"),
        description=("", "port descriptions"),
    )
    network = find("network", request, data.get("network_id"))
    fields = {"name": "", **_port_fields(data)}
    if data.get("mac_address"):
        fields["mac_address"] = data["mac_address"]
    port, op = services.create_port(
        request.user,
        request.os_project,
        network,
        fixed_ips=_fixed_ips(request, data.get("fixed_ips")) or None,
        security_groups=_port_groups(request, data.get("security_groups")) or None,
        **fields,
    )
    return created("port", request, port, op)


def port_update(request, ident):
    port, data = updating(request, "port", ident, "ports", PORT_EDITABLE)
    groups = _port_groups(request, data["security_groups"]) if "security_groups" in data else None
    result = services.update_port(request.user, port, security_groups=groups, **_port_fields(data))
    return updated("port", request, ident, result)


def _not_a_server_port(port):
    if port.instance_id:
        raise OsError(409, "The port belongs to a server; delete the server instead.", "PortInUse")


port_delete = delete_view("port", services.delete_port, "ports", check=_not_a_server_port)


# --- security groups -------------------------------------------------------------------------


def group_create(request):
    data = creating(
        request,
        "security_group",
        "security groups",
        ("name", "description", "stateful"),
        stateful=(True, "stateless security groups"),
    )
    name, description = str(data.get("name", "")), str(data.get("description", ""))
    group, op = services.create_security_group(request.user, request.os_project, name=name, description=description)
    return created("security_group", request, group, op)


def group_update(request, ident):
    group, data = updating(request, "security_group", ident, "security groups", ("name", "description"))
    return updated("security_group", request, ident, services.update_security_group(request.user, group, **data))


group_delete = delete_view("security_group", services.delete_security_group, "security groups")


RULE_FIELDS = ("security_group_id", "direction", "ethertype", "protocol", "port_range_min", "port_range_max")
PROTOCOL_NUMBERS = {"6": Protocol.TCP, "17": Protocol.UDP, "1": Protocol.ICMP}


def rule_create(request):
    allowed = (*RULE_FIELDS, "remote_ip_prefix", "remote_group_id", "description")
    data = creating(request, "security_group_rule", "security groups", allowed)
    group = find("security_group", request, data.get("security_group_id"))
    protocol = data.get("protocol")
    protocol = Protocol.ANY if protocol in (None, "any", "0") else PROTOCOL_NUMBERS.get(str(protocol), protocol)
    fields = {
        "direction": data.get("direction"),
        "ethertype": data.get("ethertype", "IPv4"),
        "protocol": protocol,
        "port_range_min": data.get("port_range_min"),
        "port_range_max": data.get("port_range_max"),
        "remote_cidr": data.get("remote_ip_prefix") or "",
        "description": str(data.get("description") or ""),
    }
    if data.get("remote_group_id"):
        fields["remote_group"] = find("security_group", request, data["remote_group_id"])
    rule, op = services.create_rule(request.user, group, **fields)
    return created("security_group_rule", request, rule, op)


rule_delete = delete_view("security_group_rule", services.delete_rule, "security groups")
