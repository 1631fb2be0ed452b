"""/openstack/<service>/...: each service's paths (with or without a trailing slash), then a
catch-all answering 501 in the service's own shape."""

from django.urls import re_path

from openstack_api import (
    compute,
    compute_admin,
    identity,
    image,
    network,
    network_l2,
    network_l3,
    server_actions,
    server_consoles,
    server_groups,
    server_metadata,
    servers,
    views,
    volume,
)
from openstack_api.base import CINDER, GLANCE, KEYSTONE, NEUTRON, NOVA, endpoint, not_implemented

app_name = "openstack"
ID = r"(?P<%s>[^/]+)"


def route(prefix, pattern, service, **methods):
    return re_path(rf"^{prefix}{pattern}/?$", endpoint(service, **methods))


def public(prefix, pattern, service, view):
    return re_path(rf"^{prefix}{pattern}/?$", endpoint(service, authenticated=False, GET=view))


K, C, G = "identity/", "compute/", "image/"
V3, V21, V2 = K + "v3/", C + "v2.1/", G + "v2/"

urlpatterns = [
    re_path(r"^clients/$", views.client_config, name="client-config"),
    # Identity v3
    public("identity", "", KEYSTONE, identity.versions),
    public(K, "v3", KEYSTONE, identity.version),
    re_path(
        rf"^{V3}auth/tokens/?$",
        endpoint(KEYSTONE, authenticated=False, POST=identity.tokens, GET=identity.tokens, DELETE=identity.tokens),
    ),
    route(V3, "auth/projects", KEYSTONE, GET=identity.auth_projects),
    route(V3, "auth/catalog", KEYSTONE, GET=identity.catalog_view),
    route(V3, "projects", KEYSTONE, GET=identity.project_list),
    route(V3, "projects/" + ID % "project_id", KEYSTONE, GET=identity.project_show),
    route(V3, "users/" + ID % "user_id", KEYSTONE, GET=identity.user_show),
    route(V3, "users/" + ID % "user_id" + "/projects", KEYSTONE, GET=identity.user_projects),
    re_path(rf"^{K}(?P<rest>.*)$", not_implemented(KEYSTONE)),
    # Compute v2.1
    public("compute", "", NOVA, compute.versions),
    public(C, "v2.1", NOVA, compute.version),
    route(V21, "flavors", NOVA, GET=compute.flavor_list),
    route(V21, "flavors/detail", NOVA, GET=compute.flavor_detail_list),
    route(V21, "flavors/" + ID % "flavor_id", NOVA, GET=compute.flavor_show),
    route(V21, "flavors/" + ID % "flavor_id" + "/os-extra_specs", NOVA, GET=compute.flavor_extra_specs),
    route(V21, "flavors/" + ID % "flavor_id" + "/os-extra_specs/" + ID % "key", NOVA, GET=compute.flavor_extra_spec),
    route(V21, "os-keypairs", NOVA, GET=compute.keypair_list, POST=compute.keypair_create),
    route(V21, "os-keypairs/" + ID % "name", NOVA, GET=compute.keypair_show, DELETE=compute.keypair_delete),
    route(V21, "servers", NOVA, GET=servers.server_list, POST=servers.server_create),
    route(V21, "servers/detail", NOVA, GET=servers.server_detail_list),
    route(
        V21,
        "servers/" + ID % "server_id",
        NOVA,
        GET=servers.server_show,
        PUT=servers.server_update,
        DELETE=servers.server_delete,
    ),
    route(V21, "servers/" + ID % "server_id" + "/action", NOVA, POST=server_actions.server_action),
    route(V21, "servers/" + ID % "server_id" + "/ips", NOVA, GET=servers.server_ips),
    route(V21, "servers/" + ID % "server_id" + "/remote-consoles", NOVA, POST=server_consoles.remote_consoles),
    route(
        V21,
        "servers/" + ID % "server_id" + "/metadata",
        NOVA,
        GET=server_metadata.metadata,
        POST=server_metadata.metadata,
        PUT=server_metadata.metadata,
    ),
    route(
        V21,
        "servers/" + ID % "server_id" + "/metadata/" + ID % "key",
        NOVA,
        GET=server_metadata.metadata_item,
        PUT=server_metadata.metadata_item,
        DELETE=server_metadata.metadata_item,
    ),
    route(V21, "servers/" + ID % "server_id" + "/os-security-groups", NOVA, GET=servers.server_security_groups),
    route(
        V21,
        "servers/" + ID % "server_id" + "/os-volume_attachments",
        NOVA,
        GET=servers.volume_attachments,
        POST=servers.volume_attachments,
    ),
    route(
        V21,
        "servers/" + ID % "server_id" + "/os-volume_attachments/" + ID % "volume_id",
        NOVA,
        GET=servers.volume_attachment,
        DELETE=servers.volume_attachment,
    ),
    route(V21, "limits", NOVA, GET=compute.limits),
    route(V21, "os-availability-zone", NOVA, GET=compute.availability_zones),
    route(V21, "os-availability-zone/detail", NOVA, GET=compute.availability_zones),
    route(V21, "extensions", NOVA, GET=compute.extensions),
    route(V21, "os-hypervisors", NOVA, GET=compute_admin.hypervisor_list),
    route(V21, "os-hypervisors/detail", NOVA, GET=compute_admin.hypervisor_detail_list),
    route(V21, "os-hypervisors/statistics", NOVA, GET=compute_admin.hypervisor_statistics),
    route(V21, "os-hypervisors/" + ID % "hypervisor_id", NOVA, GET=compute_admin.hypervisor_show),
    route(V21, "os-hypervisors/" + ID % "hypervisor_id" + "/uptime", NOVA, GET=compute_admin.hypervisor_uptime),
    route(V21, "os-hypervisors/" + ID % "pattern" + "/search", NOVA, GET=compute_admin.hypervisor_search),
    route(V21, "os-hypervisors/" + ID % "pattern" + "/servers", NOVA, GET=compute_admin.hypervisor_servers),
    route(V21, "os-aggregates", NOVA, GET=compute_admin.aggregate_list),
    route(V21, "os-aggregates/" + ID % "aggregate_id", NOVA, GET=compute_admin.aggregate_show),
    route(V21, "os-migrations", NOVA, GET=compute_admin.migration_list),
    route(V21, "os-server-groups", NOVA, GET=server_groups.group_list, POST=server_groups.group_create),
    route(
        V21,
        "os-server-groups/" + ID % "group_id",
        NOVA,
        GET=server_groups.group_show,
        DELETE=server_groups.group_delete,
    ),
    re_path(rf"^{C}(?P<rest>.*)$", not_implemented(NOVA)),
    # Image v2
    public("image", "", GLANCE, image.versions),
    route(V2, "images", GLANCE, GET=image.image_list, POST=image.image_create),
    route(V2, "images/" + ID % "image_id", GLANCE, GET=image.image_show, DELETE=image.image_delete),
    route(V2, "images/" + ID % "image_id" + "/file", GLANCE, GET=image.image_data, PUT=image.image_data),
    route(V2, "images/" + ID % "image_id" + "/import", GLANCE, POST=image.image_import),
    route(V2, "info/import", GLANCE, GET=image.import_info),
    re_path(rf"^{G}(?P<rest>.*)$", not_implemented(GLANCE)),
]

N = "network/v2.0/"


def neutron(kind, collection, create=None, update=None, delete=None):
    """A Neutron collection (list, create) and its members (show, update, delete)."""
    items = {"GET": network.list_view(kind)}
    if create:
        items["POST"] = create
    member = {"GET": network.show_view(kind)}
    if update:
        member["PUT"] = update
    if delete:
        member["DELETE"] = delete
    return [
        route(N, collection, NEUTRON, **items),
        route(N, collection + "/" + ID % "ident", NEUTRON, **member),
    ]


urlpatterns += [
    public("network", "", NEUTRON, network.versions),
    route(N, "extensions", NEUTRON, GET=network.extensions),
    route(N, "extensions/" + ID % "alias", NEUTRON, GET=network.extension),
    *neutron("network", "networks", network_l2.network_create, network_l2.network_update, network_l2.network_delete),
    *neutron("subnet", "subnets", network_l2.subnet_create, network_l2.subnet_update, network_l2.subnet_delete),
    *neutron("port", "ports", network_l2.port_create, network_l2.port_update, network_l2.port_delete),
    *neutron(
        "security_group", "security-groups", network_l2.group_create, network_l2.group_update, network_l2.group_delete
    ),
    *neutron("security_group_rule", "security-group-rules", network_l2.rule_create, None, network_l2.rule_delete),
    route(N, "routers/" + ID % "ident" + "/add_router_interface", NEUTRON, PUT=network_l3.add_interface),
    route(N, "routers/" + ID % "ident" + "/remove_router_interface", NEUTRON, PUT=network_l3.remove_interface),
    *neutron("router", "routers", network_l3.router_create, network_l3.router_update, network_l3.router_delete),
    *neutron("floatingip", "floatingips", network_l3.fip_create, network_l3.fip_update, network_l3.fip_delete),
    re_path(r"^network/(?P<rest>.*)$", not_implemented(NEUTRON)),
]

B = "volume/v3/"
urlpatterns += [
    public("volume", "", CINDER, volume.versions),
    public(B[:-1], "", CINDER, volume.version),
    route(B, "volumes", CINDER, GET=volume.volume_list, POST=volume.volume_create),
    route(B, "volumes/detail", CINDER, GET=volume.volume_detail_list),
    route(B, "volumes/" + ID % "volume_id", CINDER, GET=volume.volume_show, DELETE=volume.volume_delete),
    route(B, "volumes/" + ID % "volume_id" + "/action", CINDER, POST=volume.volume_action),
    route(B, "snapshots", CINDER, GET=volume.snapshot_list, POST=volume.snapshot_create),
    route(B, "snapshots/detail", CINDER, GET=volume.snapshot_detail_list),
    route(B, "snapshots/" + ID % "snapshot_id", CINDER, GET=volume.snapshot_show, DELETE=volume.snapshot_delete),
    route(B, "types", CINDER, GET=volume.type_list),
    route(B, "types/" + ID % "type_id", CINDER, GET=volume.type_show),
    route(B, "limits", CINDER, GET=volume.limits),
    re_path(r"^volume/(?P<rest>.*)$", not_implemented(CINDER)),
]
