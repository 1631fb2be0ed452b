"""Network v2.0 (Neutron) over network.services: networks, subnets, ports, security groups
and rules, routers (gateway, interfaces), floating IPs. Lists take Neutron's attribute
filters (?name=...&router:external=True), `fields`, `limit` and `marker`. Objects being
deleted are gone here at once, as in Neutron (their removal finishes as an Operation)."""

import ipaddress
import time
import uuid

from django.db import transaction

from network import services
from network.choices import DeviceOwner, PortStatus, Protocol, SegmentType, State
from network.models import FloatingIP, Network, Port, Router, SecurityGroup, SecurityGroupRule, Subnet
from openstack_api.base import OsError, body_of, iso, reply, require_write
from openstack_api.catalog import base_url
from portal.choices import ACTIVE_STATUSES

STATUS = {State.PENDING: "BUILD", State.ACTIVE: "ACTIVE", State.ERROR: "ERROR", State.DELETING: "ACTIVE"}
PORT_STATUS = {PortStatus.UP: "ACTIVE", PortStatus.DOWN: "DOWN", PortStatus.UNKNOWN: "DOWN"}
DEVICE_OWNER = {
    DeviceOwner.INSTANCE: "compute:nova",
    DeviceOwner.ROUTER_INTERFACE: "network:router_interface",
    DeviceOwner.ROUTER_GATEWAY: "network:router_gateway",
    DeviceOwner.FREE: "",
}
EXTENSIONS = (
    ("external-net", "Neutron external network"),
    ("router", "Neutron L3 Router"),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode"),
    ("extraroute", "Neutron Extra Route"),
    ("security-group", "security-group"),
    ("port-security", "Port Security"),
    ("provider", "Provider Network"),
    ("quotas", "Quota management support"),
)
SETTLE_S, SETTLE_POLL_S = 30.0, 0.05
LIST_PARAMS = ("limit", "marker", "fields", "sort_key", "sort_dir", "page_reverse")


def versions(request):
    entry = {"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": base_url(request) + "network/v2.0/"}]}
    return reply({"versions": [entry]})


def extensions(request):
    found = [
        {"alias": alias, "name": name, "description": name, "updated": "2013-01-01T10:00:00-00:00", "links": []}
        for alias, name in EXTENSIONS
    ]
    return reply({"extensions": found})


def settled(result):
    """settle() for what a service verb returns: an Operation or (object, Operation)."""
    settle(result[1] if isinstance(result, tuple) else result)
    return result


def settle(op):
    """Neutron answers once the change is made; Nubes realises it in an Operation. Wait (bounded)
    for it, so a client's next call on the same object does not meet a busy target (409). Not
    inside a transaction: there the Operation starts only after the commit."""
    if op is None or transaction.get_connection().in_atomic_block:
        return op
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        op.refresh_from_db(fields=["status"])
        if op.status not in ACTIVE_STATUSES:
            break
        time.sleep(SETTLE_POLL_S)
    return op


def extension(request, alias):
    for found, name in EXTENSIONS:
        if found == alias:
            body = {"alias": alias, "name": name, "description": name, "updated": "2013-01-01T10:00:00-00:00"}
            return reply({"extension": {**body, "links": []}})
    raise OsError(404, f"Extension with alias {alias} does not exist", "ExtensionNotFound")


def _common(obj):
    project = str(obj.project_id)
    return {
        "tenant_id": project,
        "project_id": project,
        "tags": [],
        "created_at": iso(obj.created),
        "updated_at": iso(getattr(obj, "updated", obj.created)),
        "revision_number": 1,
    }


def _uuid_or_none(value):
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError):
        return None


# --- bodies ----------------------------------------------------------------------------------


def network_body(request, network):
    body = {
        "id": str(network.uuid),
        "name": network.name,
        "description": network.description,
        "status": STATUS[network.state],
        "admin_state_up": True,
        "shared": network.shared,
        "router:external": network.external,
        "subnets": [str(s.uuid) for s in network.subnets.all() if s.state != State.DELETING],
        "mtu": network.mtu or network.default_mtu(),
        "port_security_enabled": True,
        "availability_zones": [],
        "availability_zone_hints": [],
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
        "is_default": False,
        "l2_adjacency": True,
        **_common(network),
    }
    if request.user.is_staff:
        body["provider:network_type"] = network.segment_type
        body["provider:physical_network"] = network.physical_network or None
        body["provider:segmentation_id"] = network.vlan_id if network.is_provider else network.tunnel_key
    return body


def subnet_body(request, subnet):
    return {
        "id": str(subnet.uuid),
        "name": subnet.name,
        "description": "",
        "network_id": str(subnet.network.uuid),
        "ip_version": subnet.ip_version,
        "cidr": subnet.cidr,
        "gateway_ip": subnet.gateway_ip,
        "allocation_pools": [{"start": a, "end": b} for a, b in subnet.allocation_pools],
        "dns_nameservers": list(subnet.dns_nameservers),
        "host_routes": list(subnet.host_routes),
        "enable_dhcp": subnet.enable_dhcp,
        "ipv6_ra_mode": subnet.ipv6_ra_mode,
        "ipv6_address_mode": subnet.ipv6_address_mode,
        "subnetpool_id": None,
        "service_types": [],
        **_common(subnet),
    }


def port_body(request, port):
    device_id = str(port.instance.uuid) if port.instance_id else port.device_id
    return {
        "id": str(port.uuid),
        "name": port.name,
        "description": "",
        "network_id": str(port.network.uuid),
        "mac_address": port.mac_address,
        "admin_state_up": port.admin_state_up,
        "status": PORT_STATUS.get(port.status, "DOWN"),
        "device_id": device_id,
        "device_owner": DEVICE_OWNER.get(port.device_owner, port.device_owner),
        "fixed_ips": [{"subnet_id": str(a.subnet.uuid), "ip_address": a.address} for a in port.ip_allocations.all()],
        "security_groups": [str(g.uuid) for g in port.security_groups.all()],
        "port_security_enabled": port.port_security,
        "allowed_address_pairs": [],
        "extra_dhcp_opts": [],
        "binding:vnic_type": "normal",
        **_common(port),
    }


def rule_body(request, rule):
    return {
        "id": str(rule.pk),
        "security_group_id": str(rule.group.uuid),
        "direction": rule.direction,
        "ethertype": rule.ethertype,
        "protocol": None if rule.protocol == Protocol.ANY else rule.protocol,
        "port_range_min": rule.port_range_min,
        "port_range_max": rule.port_range_max,
        "remote_ip_prefix": rule.remote_cidr or None,
        "remote_group_id": str(rule.remote_group.uuid) if rule.remote_group_id else None,
        "remote_address_group_id": None,
        "normalized_cidr": rule.remote_cidr or None,
        "description": rule.description,
        **_common(rule),
    }


def group_body(request, group):
    return {
        "id": str(group.uuid),
        "name": group.name,
        "description": group.description,
        "stateful": True,
        "shared": False,
        "security_group_rules": [rule_body(request, r) for r in group.rules.all()],
        **_common(group),
    }


def router_body(request, router):
    gateway = None
    if router.external_network_id:
        fixed = []
        if router.gateway_port_id:
            fixed = [
                {"subnet_id": str(a.subnet.uuid), "ip_address": a.address}
                for a in router.gateway_port.ip_allocations.all()
            ]
        gateway = {
            "network_id": str(router.external_network.uuid),
            "enable_snat": router.enable_snat,
            "external_fixed_ips": fixed,
        }
    return {
        "id": str(router.uuid),
        "name": router.name,
        "description": "",
        "status": STATUS[router.state],
        "admin_state_up": True,
        "external_gateway_info": gateway,
        "routes": list(router.routes),
        "distributed": False,
        "ha": False,
        "availability_zones": [],
        "availability_zone_hints": [],
        "flavor_id": None,
        **_common(router),
    }


def floating_ip_body(request, fip):
    return {
        "id": str(fip.uuid),
        "description": "",
        "floating_ip_address": fip.allocation.address,
        "floating_network_id": str(fip.network.uuid),
        "router_id": str(fip.router.uuid) if fip.router_id else None,
        "port_id": str(fip.port.uuid) if fip.port_id else None,
        "fixed_ip_address": fip.fixed_ip,
        "status": "ACTIVE" if fip.port_id else "DOWN",
        "port_details": None,
        "dns_domain": "",
        "dns_name": "",
        **_common(fip),
    }


# --- querysets -------------------------------------------------------------------------------


def _networks(request):
    project = request.os_project
    visible = Network.objects.filter(project=project) | Network.objects.filter(shared=True)
    visible = visible | Network.objects.filter(external=True)
    return visible.exclude(state=State.DELETING).distinct().prefetch_related("subnets")


def _owned(model, request):
    queryset = model.objects.filter(project=request.os_project)
    if hasattr(model, "state"):
        queryset = queryset.exclude(state=State.DELETING)
    return queryset


def _subnets(request):
    nets = _networks(request)
    return Subnet.objects.filter(network__in=nets).exclude(state=State.DELETING).select_related("network")


def _ports(request):
    ports = _owned(Port, request).select_related("network", "instance")
    return ports.prefetch_related("ip_allocations__subnet", "security_groups")


def _groups(request):
    return _owned(SecurityGroup, request).prefetch_related("rules__group", "rules__remote_group")


def _rules(request):
    return SecurityGroupRule.objects.filter(project=request.os_project).select_related("group", "remote_group")


def _routers(request):
    routers = _owned(Router, request).select_related("external_network", "gateway_port")
    return routers.prefetch_related("gateway_port__ip_allocations__subnet")


def _fips(request):
    return _owned(FloatingIP, request).select_related("network", "allocation", "router", "port")


KINDS = {
    # name: (collection, queryset, body, label)
    "network": ("networks", _networks, network_body, "Network"),
    "subnet": ("subnets", _subnets, subnet_body, "Subnet"),
    "port": ("ports", _ports, port_body, "Port"),
    "security_group": ("security_groups", _groups, group_body, "Security group"),
    "security_group_rule": ("security_group_rules", _rules, rule_body, "Security group rule"),
    "router": ("routers", _routers, router_body, "Router"),
    "floatingip": ("floatingips", _fips, floating_ip_body, "Floating IP"),
}


def _get(kind, request, ident):
    _collection, queryset, _body, label = KINDS[kind]
    found = None
    if kind == "security_group_rule":
        found = queryset(request).filter(pk=ident).first() if str(ident).isdigit() else None
    elif _uuid_or_none(ident):
        found = queryset(request).filter(uuid=ident).first()
    if found is None:
        raise OsError(404, f"{label} {ident} could not be found.", f"{label.title().replace(' ', '')}NotFound")
    return found


def _matches(body, request):
    for key in request.GET:
        if key in LIST_PARAMS:
            continue
        wanted = request.GET.getlist(key)
        value = body.get(key)
        text = str(value).lower() if isinstance(value, bool) else ("" if value is None else str(value))
        if text not in [w.lower() if isinstance(value, bool) else w for w in wanted]:
            return False
    return True


def _fields(body, request):
    fields = request.GET.getlist("fields")
    return {k: v for k, v in body.items() if k in fields} if fields else body


def list_view(kind):
    collection, queryset, body_of_obj, _label = KINDS[kind]

    def view(request):
        bodies = [body_of_obj(request, obj) for obj in queryset(request)]
        bodies = [b for b in bodies if _matches(b, request)]
        marker = request.GET.get("marker")
        if marker:
            ids = [b["id"] for b in bodies]
            bodies = bodies[ids.index(marker) + 1 :] if marker in ids else []
        limit = request.GET.get("limit")
        if limit and limit.isdigit() and int(limit) > 0:
            bodies = bodies[: int(limit)]
        return reply({collection: [_fields(b, request) for b in bodies]})

    return view


def show_view(kind):
    _collection, _queryset, body_of_obj, _label = KINDS[kind]

    def view(request, ident):
        return reply({kind: _fields(body_of_obj(request, _get(kind, request, ident)), request)})

    return view


def _input(request, kind, allowed):
    data = body_of(request, kind)
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise OsError(400, f"Unrecognized attribute(s) '{', '.join(unknown)}'", "HTTPBadRequest")
    return data


def _not_yet(data, **unsupported):
    for key, (default, what) in unsupported.items():
        if key in data and data[key] != default:
            raise OsError(501, f"Nubes does not implement {what} yet.", "NotImplemented")


def _created(kind, request, obj, op):
    settle(op)
    obj = _get(kind, request, obj.pk if kind == "security_group_rule" else obj.uuid)
    return reply({kind: KINDS[kind][2](request, obj)}, status=201)


def _own(request, obj, what):
    """Changes go to the token's project's own objects (shared networks are read-only here)."""
    require_write(request, what)
    if obj.project_id != request.os_project.pk:
        raise OsError(403, f"This {what[:-1]} belongs to another project.", "PolicyNotAuthorized")


def delete_view(kind, verb, what, check=None):
    """DELETE of one of the project's own objects through its service verb: 204 once done."""

    def view(request, ident):
        obj = _get(kind, request, ident)
        _own(request, obj, what)
        if check is not None:
            check(obj)
        settled(verb(request.user, obj))
        return reply(None, status=204)

    return view


def _not_a_server_port(port):
    if port.instance_id:
        raise OsError(409, "The port belongs to a server; delete the server instead.", "PortInUse")


# --- networks --------------------------------------------------------------------------------

NETWORK_FIELDS = (
    "name",
    "description",
    "admin_state_up",
    "shared",
    "router:external",
    "mtu",
    "port_security_enabled",
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
    "availability_zone_hints",
    "tenant_id",
    "project_id",
)


def _project_field(request, data):
    for key in ("tenant_id", "project_id"):
        if key in data and str(data[key]) != str(request.os_project.pk):
            raise OsError(403, "Objects are created in the token's project.", "PolicyNotAuthorized")


def network_create(request):
    require_write(request, "networks")
    data = _input(request, "network", NETWORK_FIELDS)
    _project_field(request, data)
    _not_yet(
        data,
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
    return _created("network", request, network, op)


def network_update(request, ident):
    network = _get("network", request, ident)
    _own(request, network, "networks")
    data = _input(request, "network", ("name", "description", "mtu", "shared", "router:external", "admin_state_up"))
    _not_yet(data, admin_state_up=(True, "administratively down networks"))
    fields = {key: data[key] for key in ("name", "description", "mtu", "shared") if key in data}
    if "router:external" in data:
        fields["external"] = data["router:external"]
    settled(services.update_network(request.user, network, **fields))
    return reply({"network": network_body(request, _get("network", request, ident))})


network_delete = delete_view("network", services.delete_network, "networks")


# --- subnets ---------------------------------------------------------------------------------

SUBNET_FIELDS = (
    "name",
    "description",
    "network_id",
    "cidr",
    "ip_version",
    "gateway_ip",
    "allocation_pools",
    "dns_nameservers",
    "host_routes",
    "enable_dhcp",
    "ipv6_ra_mode",
    "ipv6_address_mode",
    "subnetpool_id",
    "prefixlen",
    "use_default_subnet_pool",
    "service_types",
    "tenant_id",
    "project_id",
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
    require_write(request, "subnets")
    data = _input(request, "subnet", SUBNET_FIELDS)
    _project_field(request, data)
    _not_yet(
        data,
        subnetpool_id=(None, "subnet pools through this API"),
        use_default_subnet_pool=(False, "subnet pools through this API"),
        prefixlen=(None, "subnet pools through this API"),
        service_types=([], "subnet service types"),
        description=("", "subnet descriptions"),
    )
    if not data.get("cidr"):
        raise OsError(400, "A subnet needs a cidr (subnet pools are not implemented).", "BadRequest")
    network = _get("network", request, data.get("network_id"))
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
    return _created("subnet", request, subnet, op)


def subnet_update(request, ident):
    subnet = _get("subnet", request, ident)
    _own(request, subnet, "subnets")
    data = _input(
        request, "subnet", ("name", "gateway_ip", "allocation_pools", "dns_nameservers", "host_routes", "enable_dhcp")
    )
    if "allocation_pools" in data:
        data["allocation_pools"] = _pools(data["allocation_pools"])
    settled(services.update_subnet(request.user, subnet, **data))
    return reply({"subnet": subnet_body(request, _get("subnet", request, ident))})


subnet_delete = delete_view("subnet", services.delete_subnet, "subnets")


# --- ports -----------------------------------------------------------------------------------

PORT_FIELDS = (
    "name",
    "network_id",
    "fixed_ips",
    "security_groups",
    "port_security_enabled",
    "admin_state_up",
    "mac_address",
    "description",
    "tenant_id",
    "project_id",
    "device_id",
    "device_owner",
    "binding:vnic_type",
)


def _port_groups(request, ids):
    groups = []
    for ident in ids or []:
        groups.append(_get("security_group", request, ident))
    return groups


def _fixed_ips(request, fixed):
    found = []
    for entry in fixed or []:
        if not isinstance(entry, dict):
            raise OsError(400, "fixed_ips is a list of {subnet_id, ip_address}.", "InvalidInput")
        item = {}
        if entry.get("subnet_id"):
            item["subnet"] = _get("subnet", request, entry["subnet_id"]).pk
        if entry.get("ip_address"):
            item["ip_address"] = entry["ip_address"]
        found.append(item)
    return found


def port_create(request):
    require_write(request, "ports")
    data = _input(request, "port", PORT_FIELDS)
    _project_field(request, data)
    _not_yet(
        data,
        device_id=("", "binding ports to devices through this API"),
        device_owner=("", "binding ports to devices through this API"),
        description=("", "port descriptions"),
    )
    network = _get("network", request, data.get("network_id"))
    fields = {"name": str(data.get("name", ""))}
    for key, field in (("port_security_enabled", "port_security"), ("admin_state_up", "admin_state_up")):
        if key in data:
            fields[field] = bool(data[key])
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
    return _created("port", request, port, op)


def port_update(request, ident):
    port = _get("port", request, ident)
    _own(request, port, "ports")
    data = _input(request, "port", ("name", "security_groups", "port_security_enabled", "admin_state_up"))
    fields = {}
    if "name" in data:
        fields["name"] = str(data["name"])
    if "port_security_enabled" in data:
        fields["port_security"] = bool(data["port_security_enabled"])
    if "admin_state_up" in data:
        fields["admin_state_up"] = bool(data["admin_state_up"])
    groups = _port_groups(request, data["security_groups"]) if "security_groups" in data else None
    settled(services.update_port(request.user, port, security_groups=groups, **fields))
    return reply({"port": port_body(request, _get("port", request, ident))})


port_delete = delete_view("port", services.delete_port, "ports", check=_not_a_server_port)


# --- security groups -------------------------------------------------------------------------


def group_create(request):
    require_write(request, "security groups")
    data = _input(request, "security_group", ("name", "description", "stateful", "tenant_id", "project_id"))
    _project_field(request, data)
    _not_yet(data, stateful=(True, "stateless security groups"))
    group, op = services.create_security_group(
        request.user, request.os_project, name=str(data.get("name", "")), description=str(data.get("description", ""))
    )
    return _created("security_group", request, group, op)


def group_update(request, ident):
    group = _get("security_group", request, ident)
    _own(request, group, "security groups")
    data = _input(request, "security_group", ("name", "description"))
    settled(services.update_security_group(request.user, group, **data))
    return reply({"security_group": group_body(request, _get("security_group", request, ident))})


group_delete = delete_view("security_group", services.delete_security_group, "security groups")


RULE_FIELDS = (
    "security_group_id",
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_group_id",
    "description",
    "tenant_id",
    "project_id",
)
PROTOCOL_NUMBERS = {"6": Protocol.TCP, "17": Protocol.UDP, "1": Protocol.ICMP}


def rule_create(request):
    require_write(request, "security groups")
    data = _input(request, "security_group_rule", RULE_FIELDS)
    _project_field(request, data)
    group = _get("security_group", request, data.get("security_group_id"))
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
        fields["remote_group"] = _get("security_group", request, data["remote_group_id"])
    rule, op = services.create_rule(request.user, group, **fields)
    return _created("security_group_rule", request, rule, op)


rule_delete = delete_view("security_group_rule", services.delete_rule, "security groups")


# --- routers ---------------------------------------------------------------------------------


def _gateway_network(request, info):
    """external_gateway_info -> (network or None, enable_snat or None)."""
    if not info:
        return None, None
    if not isinstance(info, dict):
        raise OsError(400, "external_gateway_info is an object.", "InvalidInput")
    if info.get("external_fixed_ips"):
        raise OsError(501, "Nubes picks the router's gateway address itself.", "NotImplemented")
    network = _get("network", request, info.get("network_id"))
    if not network.external:
        raise OsError(400, f"Network {network.uuid} is not an external network.", "BadRequest")
    return network, info.get("enable_snat")


def router_create(request):
    require_write(request, "routers")
    data = _input(
        request,
        "router",
        (
            "name",
            "description",
            "admin_state_up",
            "external_gateway_info",
            "routes",
            "tenant_id",
            "project_id",
            "distributed",
            "ha",
            "availability_zone_hints",
        ),
    )
    _project_field(request, data)
    _not_yet(
        data,
        admin_state_up=(True, "administratively down routers"),
        description=("", "router descriptions"),
        distributed=(False, "distributed routers"),
        ha=(False, "HA routers"),
        availability_zone_hints=([], "availability zones"),
    )
    network, snat = _gateway_network(request, data.get("external_gateway_info"))
    router, op = services.create_router(
        request.user,
        request.os_project,
        name=str(data.get("name", "")),
        external_network=network,
        enable_snat=True if snat is None else bool(snat),
        routes=data.get("routes") or (),
    )
    return _created("router", request, router, op)


def router_update(request, ident):
    router = _get("router", request, ident)
    _own(request, router, "routers")
    data = _input(request, "router", ("name", "external_gateway_info", "routes", "admin_state_up", "description"))
    _not_yet(data, admin_state_up=(True, "administratively down routers"), description=("", "router descriptions"))
    fields = {}
    if "name" in data:
        fields["name"] = str(data["name"])
    if "routes" in data:
        fields["routes"] = data["routes"] or []
    if "external_gateway_info" in data:
        network, snat = _gateway_network(request, data["external_gateway_info"])
        fields["external_network"] = network
        if snat is not None:
            fields["enable_snat"] = bool(snat)
    settled(services.update_router(request.user, router, **fields))
    return reply({"router": router_body(request, _get("router", request, ident))})


router_delete = delete_view("router", services.delete_router, "routers")


def _interface(request, ident, add):
    router = _get("router", request, ident)
    _own(request, router, "routers")
    data = body_of(request)
    if data.get("port_id"):
        raise OsError(501, "Nubes attaches routers to subnets (subnet_id), not to given ports.", "NotImplemented")
    subnet = _get("subnet", request, data.get("subnet_id"))
    port = None
    if not add:
        port = Port.objects.filter(router_interface__router=router, router_interface__subnet=subnet).first()
    settled((services.add_interface if add else services.remove_interface)(request.user, router, subnet))
    if add:
        port = Port.objects.filter(router_interface__router=router, router_interface__subnet=subnet).first()
    body = {
        "id": str(router.uuid),
        "tenant_id": str(router.project_id),
        "project_id": str(router.project_id),
        "subnet_id": str(subnet.uuid),
        "subnet_ids": [str(subnet.uuid)],
        "network_id": str(subnet.network.uuid),
        "port_id": str(port.uuid) if port else None,
        "tags": [],
    }
    return reply(body)


def add_interface(request, ident):
    return _interface(request, ident, add=True)


def remove_interface(request, ident):
    return _interface(request, ident, add=False)


# --- floating IPs ----------------------------------------------------------------------------


def fip_create(request):
    require_write(request, "floating IPs")
    data = _input(
        request,
        "floatingip",
        (
            "floating_network_id",
            "port_id",
            "fixed_ip_address",
            "description",
            "tenant_id",
            "project_id",
            "floating_ip_address",
            "subnet_id",
        ),
    )
    _project_field(request, data)
    _not_yet(
        data,
        floating_ip_address=(None, "choosing the floating address"),
        subnet_id=(None, "choosing the external subnet"),
        fixed_ip_address=(None, "choosing the port's fixed address"),
        description=("", "floating IP descriptions"),
    )
    network = _get("network", request, data.get("floating_network_id"))
    port = _get("port", request, data["port_id"]) if data.get("port_id") else None
    fip, op = services.create_floating_ip(request.user, request.os_project, network, port=port)
    return _created("floatingip", request, fip, op)


def fip_update(request, ident):
    fip = _get("floatingip", request, ident)
    _own(request, fip, "floating IPs")
    data = _input(request, "floatingip", ("port_id", "fixed_ip_address", "description"))
    _not_yet(data, fixed_ip_address=(None, "choosing the port's fixed address"), description=("", "descriptions"))
    if "port_id" in data:
        if data["port_id"]:
            settled(services.associate(request.user, fip, _get("port", request, data["port_id"])))
        elif fip.port_id:
            settled(services.disassociate(request.user, fip))
    return reply({"floatingip": floating_ip_body(request, _get("floatingip", request, ident))})


fip_delete = delete_view("floatingip", services.delete_floating_ip, "floating IPs")
