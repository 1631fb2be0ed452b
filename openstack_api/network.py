"""Network v2.0 (Neutron) over network.services: networks, subnets, ports, security groups
and rules, routers (gateway, interfaces), floating IPs. Lists take Neutron's attribute
filters (?name=...&router:external=True), `fields`, `limit` and `marker`. Objects being
deleted are gone here at once, as in Neutron (their removal finishes as an Operation)."""

import time
import uuid

from django.db import transaction

from network.choices import DeviceOwner, PortStatus, Protocol, State
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
# Attributes Neutron has and Nubes refuses with a reason (not "unrecognized").
REFUSED = {
    "allowed_address_pairs": "Nubes does not support allowed_address_pairs: a port's OVN port security admits "
    "only its own MAC and fixed IPs. For a virtual IP shared by servers (VRRP, keepalived), disable "
    "port_security_enabled on those ports instead.",
}
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


def find(kind, request, ident):
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
        return reply({kind: _fields(body_of_obj(request, find(kind, request, ident)), request)})

    return view


def _input(request, kind, allowed):
    data = body_of(request, kind)
    unknown = sorted(set(data) - set(allowed))
    for key in unknown:
        if key in REFUSED:
            raise OsError(400, REFUSED[key], "InvalidInput")
    if unknown:
        raise OsError(400, f"Unrecognized attribute(s) '{', '.join(unknown)}'", "HTTPBadRequest")
    return data


def _not_yet(data, unsupported):
    for key, (default, what) in unsupported.items():
        if key in data and data[key] != default:
            raise OsError(501, f"Nubes does not implement {what} yet.", "NotImplemented")


def own(request, obj, what):
    """Changes go to the token's project's own objects (shared networks are read-only here)."""
    require_write(request, what)
    if obj.project_id != request.os_project.pk:
        raise OsError(403, f"This {what[:-1]} belongs to another project.", "PolicyNotAuthorized")


def creating(request, kind, what, allowed, **unsupported):
    """A create's attributes: writers only, known attributes, in the token's own project."""
    require_write(request, what)
    data = _input(request, kind, (*allowed, "tenant_id", "project_id"))
    for key in ("tenant_id", "project_id"):
        if key in data and str(data[key]) != str(request.os_project.pk):
            raise OsError(403, "Objects are created in the token's project.", "PolicyNotAuthorized")
    _not_yet(data, unsupported)
    return data


def created(kind, request, obj, op):
    settle(op)
    obj = find(kind, request, obj.pk if kind == "security_group_rule" else obj.uuid)
    return reply({kind: KINDS[kind][2](request, obj)}, status=201)


def updating(request, kind, ident, what, allowed, **unsupported):
    """(the project's own object, the update's attributes)."""
    obj = find(kind, request, ident)
    own(request, obj, what)
    data = _input(request, kind, allowed)
    _not_yet(data, unsupported)
    return obj, data


def updated(kind, request, ident, result):
    """The object's body once the service verb's Operation (`result`) has settled."""
    settled(result)
    return reply({kind: KINDS[kind][2](request, find(kind, request, ident))})


def delete_view(kind, verb, what, check=None):
    """DELETE of one of the project's own objects through its service verb: 204 once done."""

    def view(request, ident):
        obj = find(kind, request, ident)
        own(request, obj, what)
        if check is not None:
            check(obj)
        settled(verb(request.user, obj))
        return reply(None, status=204)

    return view
