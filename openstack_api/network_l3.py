"""Network v2.0 (Neutron) writes of layer 3 over network.services: routers (external gateway,
extra routes, interfaces) and floating IPs. Bodies, lists and shows are network.py's."""

from network import services
from network.models import Port
from openstack_api.base import OsError, body_of, reply
from openstack_api.network import created, creating, delete_view, find, own, settled, updated, updating

# --- routers ---------------------------------------------------------------------------------


def _gateway_network(request, info):
    """external_gateway_info -> (network or None, enable_snat or None)."""
    if not info:
        return None, None
    if not isinstance(info, dict):
        raise OsError(400, "external_gateway_info is an object.", "InvalidInput")
    if info.get("external_fixed_ips"):
        raise OsError(501, "Nubes picks the router's gateway address itself.", "NotImplemented")
    network = find("network", request, info.get("network_id"))
    if not network.external:
        raise OsError(400, f"Network {network.uuid} is not an external network.", "BadRequest")
    return network, info.get("enable_snat")


ROUTER_EDITABLE = ("name", "external_gateway_info", "routes", "admin_state_up", "description")
ROUTER_NOT_YET = {"admin_state_up": (True, "administratively down routers"), "description": ("", "router descriptions")}


def router_create(request):
    data = creating(
        request,
        "router",
        "routers",
        (*ROUTER_EDITABLE, "distributed", "ha", "availability_zone_hints"),
        **ROUTER_NOT_YET,
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
    return created("router", request, router, op)


def router_update(request, ident):
    router, data = updating(request, "router", ident, "routers", ROUTER_EDITABLE, **ROUTER_NOT_YET)
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
    return updated("router", request, ident, services.update_router(request.user, router, **fields))


router_delete = delete_view("router", services.delete_router, "routers")


def _interface(request, ident, add):
    router = find("router", request, ident)
    own(request, router, "routers")
    data = body_of(request)
    if data.get("port_id"):
        raise OsError(501, "Nubes attaches routers to subnets (subnet_id), not to given ports.", "NotImplemented")
    subnet = find("subnet", request, data.get("subnet_id"))
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


FIP_FIELDS = ("floating_network_id", "port_id", "fixed_ip_address", "description")
FIP_NOT_YET = {
    "fixed_ip_address": (None, "choosing the port's fixed address"),
    "description": ("", "floating IP descriptions"),
}


def fip_create(request):
    data = creating(
        request,
        "floatingip",
        "floating IPs",
        (*FIP_FIELDS, "floating_ip_address", "subnet_id"),
        **FIP_NOT_YET,
        floating_ip_address=(None, "choosing the floating address"),
        subnet_id=(None, "choosing the external subnet"),
    )
    network = find("network", request, data.get("floating_network_id"))
    port = find("port", request, data["port_id"]) if data.get("port_id") else None
    fip, op = services.create_floating_ip(request.user, request.os_project, network, port=port)
    return created("floatingip", request, fip, op)


def fip_update(request, ident):
    fip, data = updating(request, "floatingip", ident, "floating IPs", FIP_FIELDS[1:], **FIP_NOT_YET)
    result = None
    if "port_id" in data:
        if data["port_id"]:
            result = services.associate(request.user, fip, find("port", request, data["port_id"]))
        elif fip.port_id:
            result = services.disassociate(request.user, fip)
    return updated("floatingip", request, ident, result)


fip_delete = delete_view("floatingip", services.delete_floating_ip, "floating IPs")
