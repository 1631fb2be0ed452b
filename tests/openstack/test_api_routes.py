"""The README's per-service tables against the URLconf: every call a "supported" cell names is
routed to a view answering that method (not to the service's 501 catch-all), and a sample of the
"not yet" cells is routed to the catch-all or to a view without that method (their answers are
checked in test_api_unsupported.py). Cheap: it resolves paths, it calls nothing."""

import pytest
from django.urls import resolve

K, C, G = "/openstack/identity/v3", "/openstack/compute/v2.1", "/openstack/image/v2"
N, B = "/openstack/network/v2.0", "/openstack/volume/v3"
S = f"{C}/servers/s"

SUPPORTED = {
    "identity": [
        ("POST", f"{K}/auth/tokens"), ("GET", f"{K}/auth/tokens"), ("HEAD", f"{K}/auth/tokens"),
        ("DELETE", f"{K}/auth/tokens"), ("GET", f"{K}/auth/projects"), ("GET", f"{K}/auth/catalog"),
        ("GET", f"{K}/projects"), ("GET", f"{K}/projects/p"), ("GET", f"{K}/users/u"), ("GET", f"{K}/users/u/projects"),
    ],
    "compute": [
        ("GET", "/openstack/compute/"), ("GET", C), ("GET", f"{C}/flavors"), ("GET", f"{C}/flavors/detail"),
        ("GET", f"{C}/flavors/f"), ("GET", f"{C}/flavors/f/os-extra_specs"), ("GET", f"{C}/flavors/f/os-extra_specs/k"),
        ("GET", f"{C}/os-keypairs"), ("POST", f"{C}/os-keypairs"), ("GET", f"{C}/os-keypairs/k"),
        ("DELETE", f"{C}/os-keypairs/k"), ("POST", f"{C}/servers"), ("GET", f"{C}/servers"),
        ("GET", f"{C}/servers/detail"), ("GET", S), ("PUT", S), ("DELETE", S), ("GET", f"{S}/ips"),
        ("GET", f"{S}/metadata"), ("POST", f"{S}/metadata"), ("PUT", f"{S}/metadata"), ("GET", f"{S}/metadata/k"),
        ("PUT", f"{S}/metadata/k"), ("DELETE", f"{S}/metadata/k"), ("POST", f"{S}/action"),
        ("POST", f"{S}/remote-consoles"), ("GET", f"{S}/os-volume_attachments"),
        ("POST", f"{S}/os-volume_attachments"), ("GET", f"{S}/os-volume_attachments/v"),
        ("DELETE", f"{S}/os-volume_attachments/v"), ("GET", f"{S}/os-security-groups"), ("GET", f"{C}/limits"),
        ("GET", f"{C}/os-availability-zone"), ("GET", f"{C}/os-hypervisors"), ("GET", f"{C}/os-hypervisors/detail"),
        ("GET", f"{C}/os-hypervisors/h"), ("GET", f"{C}/os-hypervisors/statistics"),
        ("GET", f"{C}/os-hypervisors/h/uptime"), ("GET", f"{C}/os-hypervisors/h/servers"),
        ("GET", f"{C}/os-hypervisors/h/search"), ("GET", f"{C}/os-aggregates"), ("GET", f"{C}/os-aggregates/a"),
        ("GET", f"{C}/os-migrations"), ("GET", f"{C}/os-server-groups"), ("POST", f"{C}/os-server-groups"),
        ("GET", f"{C}/os-server-groups/g"), ("DELETE", f"{C}/os-server-groups/g"),
    ],
    "image": [
        ("GET", "/openstack/image"), ("GET", f"{G}/images"), ("GET", f"{G}/images/i"), ("GET", f"{G}/images/i/file"),
        ("POST", f"{G}/images"), ("PUT", f"{G}/images/i/file"), ("DELETE", f"{G}/images/i"),
        ("POST", f"{G}/images/i/import"), ("GET", f"{G}/info/import"),
    ],
    "network": [
        ("GET", f"{N}/extensions"),
        *(
            (method, f"{N}/{collection}{member}")
            for collection in ("networks", "subnets", "ports", "security-groups", "routers", "floatingips")
            for method, member in (("GET", ""), ("POST", ""), ("GET", "/x"), ("PUT", "/x"), ("DELETE", "/x"))
        ),
        ("GET", f"{N}/security-group-rules"), ("POST", f"{N}/security-group-rules"),
        ("GET", f"{N}/security-group-rules/r"), ("DELETE", f"{N}/security-group-rules/r"),
        ("PUT", f"{N}/routers/r/add_router_interface"), ("PUT", f"{N}/routers/r/remove_router_interface"),
    ],
    "volumev3": [
        ("GET", B), ("GET", f"{B}/volumes"), ("GET", f"{B}/volumes/detail"), ("GET", f"{B}/volumes/v"),
        ("POST", f"{B}/volumes"), ("DELETE", f"{B}/volumes/v"), ("POST", f"{B}/volumes/v/action"),
        ("GET", f"{B}/snapshots"), ("GET", f"{B}/snapshots/detail"), ("GET", f"{B}/snapshots/s"),
        ("POST", f"{B}/snapshots"), ("DELETE", f"{B}/snapshots/s"), ("GET", f"{B}/types"), ("GET", f"{B}/types/t"),
        ("GET", f"{B}/limits"),
    ],
}  # fmt: skip
NOT_YET = [
    ("GET", f"{K}/users"), ("GET", f"{K}/roles"), ("GET", f"{K}/domains"), ("POST", f"{K}/projects"),
    ("POST", f"{C}/os-aggregates"), ("GET", f"{C}/os-quota-sets/p"), ("GET", f"{S}/os-interface"),
    ("PATCH", f"{G}/images/i"), ("GET", f"{G}/images/i/members"), ("GET", f"{G}/tasks"),
    ("GET", f"{N}/quotas"), ("GET", f"{N}/subnetpools"), ("GET", f"{N}/trunks"), ("GET", f"{N}/qos/policies"),
    ("GET", f"{B}/backups"), ("GET", f"{B}/volumes/v/metadata"), ("GET", f"{B}/os-volume-transfer"),
    ("PUT", f"{B}/snapshots/s"), ("GET", f"{B}/attachments"), ("GET", f"{B}/group_snapshots"),
]  # fmt: skip


def routed(method, path):
    view = resolve(path).func
    return method in view.os_methods


@pytest.mark.parametrize(
    "method, path", [call for calls in SUPPORTED.values() for call in calls], ids=lambda value: value
)
def test_every_supported_call_in_the_readme_is_routed(method, path):
    assert routed(method, path), f"{method} {path} is in the README's supported column but not routed"
    if not path.endswith("/"):
        assert routed(method, path + "/")  # OpenStack clients send either


@pytest.mark.parametrize("method, path", NOT_YET, ids=lambda value: value)
def test_not_yet_calls_reach_no_view_of_theirs(method, path):
    assert not routed(method, path)
