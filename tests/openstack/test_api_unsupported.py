"""Real OpenStack calls Nubes does not implement answer 501 in the service's own error shape,
never a 500 or a 404 that reads as "no such object": a sweep per service over calls the clients
really make (openstackclient, openstacksdk, Ansible, Terraform)."""

import pytest

from compute.models import Instance

NOVA = "/openstack/compute/v2.1"
NEUTRON = "/openstack/network/v2.0"
CINDER = "/openstack/volume/v3"
GLANCE = "/openstack/image/v2"
KEYSTONE = "/openstack/identity/v3"
SERVER = "{server}"

NOVA_ACTIONS = [
    {"createBackup": {"name": "b", "backup_type": "daily", "rotation": 1}},
    {"shelve": None},
    {"shelveOffload": None},
    {"unshelve": None},
    {"rescue": None},
    {"unrescue": None},
    {"evacuate": {}},
    {"changePassword": {"adminPass": "x"}},
    {"addFloatingIp": {"address": "10.0.0.9"}},
    {"removeFloatingIp": {"address": "10.0.0.9"}},
    {"addFixedIp": {"networkId": "x"}},
    {"removeFixedIp": {"address": "10.0.0.9"}},
    {"forceDelete": None},
    {"restore": None},
    {"os-resetState": {"state": "error"}},
    {"resetNetwork": None},
    {"injectNetworkInfo": None},
    {"trigger_crash_dump": None},
    {"os-getSerialConsole": {"type": "serial"}},
    {"os-getSPICEConsole": {"type": "spice-html5"}},
    {"os-getRDPConsole": {"type": "rdp-html5"}},
]
NOVA_CALLS = [
    ("POST", f"{NOVA}/os-server-external-events", {"events": [{"name": "network-changed", "server_uuid": "x"}]}),
    ("GET", f"{NOVA}/servers/{SERVER}/os-instance-actions", None),
    ("GET", f"{NOVA}/servers/{SERVER}/os-interface", None),
    ("POST", f"{NOVA}/servers/{SERVER}/os-interface", {"interfaceAttachment": {"net_id": "x"}}),
    ("GET", f"{NOVA}/servers/{SERVER}/diagnostics", None),
    ("GET", f"{NOVA}/servers/{SERVER}/tags", None),
    ("GET", f"{NOVA}/servers/{SERVER}/migrations", None),
    ("PUT", f"{NOVA}/servers/{SERVER}/os-volume_attachments/v", {"volumeAttachment": {"volumeId": "w"}}),
    ("GET", f"{NOVA}/servers?all_tenants=1", None),
    ("GET", f"{NOVA}/servers/detail?all_tenants=True", None),
    ("POST", f"{NOVA}/flavors", {"flavor": {"name": "f", "ram": 1, "vcpus": 1, "disk": 1}}),
    ("DELETE", f"{NOVA}/flavors/1", None),
    ("POST", f"{NOVA}/flavors/1/os-extra_specs", {"extra_specs": {"hw:cpu_policy": "dedicated"}}),
    ("GET", f"{NOVA}/flavors/1/os-flavor-access", None),
    ("POST", f"{NOVA}/os-aggregates", {"aggregate": {"name": "a"}}),
    ("GET", f"{NOVA}/os-quota-sets/p", None),
    ("PUT", f"{NOVA}/os-quota-sets/p", {"quota_set": {"instances": 1}}),
    ("GET", f"{NOVA}/os-services", None),
    ("GET", f"{NOVA}/os-simple-tenant-usage", None),
    ("GET", f"{NOVA}/os-instance_usage_audit_log", None),
    ("GET", f"{NOVA}/os-hosts", None),
]
NEUTRON_CALLS = [
    ("GET", f"{NEUTRON}/qos/policies", None),
    ("POST", f"{NEUTRON}/qos/policies", {"policy": {"name": "q"}}),
    ("GET", f"{NEUTRON}/quotas", None),
    ("GET", f"{NEUTRON}/quotas/p", None),
    ("PUT", f"{NEUTRON}/quotas/p", {"quota": {"network": 1}}),
    ("GET", f"{NEUTRON}/subnetpools", None),
    ("GET", f"{NEUTRON}/trunks", None),
    ("GET", f"{NEUTRON}/lbaas/loadbalancers", None),
    ("GET", f"{NEUTRON}/agents", None),
    ("GET", f"{NEUTRON}/network-ip-availabilities", None),
    ("GET", f"{NEUTRON}/address-scopes", None),
    ("GET", f"{NEUTRON}/rbac-policies", None),
    ("GET", f"{NEUTRON}/segments", None),
    ("GET", f"{NEUTRON}/availability_zones", None),
    ("GET", f"{NEUTRON}/auto-allocated-topology/p", None),
    ("GET", f"{NEUTRON}/floatingips/f/port_forwardings", None),
    ("PUT", f"{NEUTRON}/security-group-rules/r", {"security_group_rule": {"description": "d"}}),
]
CINDER_CALLS = [
    ("GET", f"{CINDER}/backups", None),
    ("GET", f"{CINDER}/backups/detail", None),
    ("POST", f"{CINDER}/backups", {"backup": {"volume_id": "v"}}),
    ("GET", f"{CINDER}/os-volume-transfer", None),
    ("GET", f"{CINDER}/volumes/v/metadata", None),
    ("PUT", f"{CINDER}/volumes/v", {"volume": {"name": "n"}}),
    ("GET", f"{CINDER}/attachments", None),
    ("GET", f"{CINDER}/groups", None),
    ("GET", f"{CINDER}/group_snapshots", None),
    ("GET", f"{CINDER}/qos-specs", None),
    ("GET", f"{CINDER}/os-services", None),
    ("GET", f"{CINDER}/os-quota-sets/p", None),
    ("GET", f"{CINDER}/messages", None),
    ("GET", f"{CINDER}/scheduler-stats/get_pools", None),
    ("GET", f"{CINDER}/os-availability-zone", None),
    ("POST", f"{CINDER}/types", {"volume_type": {"name": "t"}}),
    ("PUT", f"{CINDER}/snapshots/s", {"snapshot": {"name": "n"}}),
    ("POST", f"{CINDER}/volumes", {"volume": {"size": 1, "source_volid": "v"}}),
    ("POST", f"{CINDER}/volumes", {"volume": {"size": 1, "backup_id": "b"}}),
]
GLANCE_CALLS = [
    ("GET", f"{GLANCE}/tasks", None),
    ("POST", f"{GLANCE}/tasks", {"type": "import", "input": {}}),
    ("GET", f"{GLANCE}/info/stores", None),
    ("PATCH", f"{GLANCE}/images/i", [{"op": "replace", "path": "/name", "value": "n"}]),
    ("PUT", f"{GLANCE}/images/i/tags/t", None),
    ("GET", f"{GLANCE}/images/i/members", None),
    ("POST", f"{GLANCE}/images/i/members", {"member": "p"}),
    ("POST", f"{GLANCE}/images/i/actions/deactivate", None),
    ("PUT", f"{GLANCE}/images/i/stage", None),
    ("GET", f"{GLANCE}/metadefs/namespaces", None),
]
KEYSTONE_CALLS = [
    ("GET", f"{KEYSTONE}/users", None),
    ("POST", f"{KEYSTONE}/users", {"user": {"name": "u"}}),
    ("GET", f"{KEYSTONE}/roles", None),
    ("GET", f"{KEYSTONE}/role_assignments", None),
    ("GET", f"{KEYSTONE}/domains", None),
    ("POST", f"{KEYSTONE}/projects", {"project": {"name": "p"}}),
    ("PATCH", f"{KEYSTONE}/projects/1", {"project": {"name": "p"}}),
    ("DELETE", f"{KEYSTONE}/projects/1", None),
    ("GET", f"{KEYSTONE}/users/1/application_credentials", None),
    ("POST", f"{KEYSTONE}/users/1/application_credentials", {"application_credential": {"name": "a"}}),
    ("GET", f"{KEYSTONE}/services", None),
    ("GET", f"{KEYSTONE}/endpoints", None),
    ("GET", f"{KEYSTONE}/regions", None),
    ("GET", f"{KEYSTONE}/groups", None),
    ("GET", f"{KEYSTONE}/credentials", None),
    ("GET", f"{KEYSTONE}/OS-TRUST/trusts", None),
    ("GET", f"{KEYSTONE}/auth/domains", None),
    ("GET", f"{KEYSTONE}/auth/system", None),
]


def nova_message(data):
    assert set(data) == {"notImplemented"} and data["notImplemented"]["code"] == 501, data
    return data["notImplemented"]["message"]


def neutron_message(data):
    assert set(data) == {"NeutronError"} and data["NeutronError"]["type"] == "NotImplemented", data
    return data["NeutronError"]["message"]


def keystone_message(data):  # Keystone's shape, which Glance's answers share here
    assert set(data) == {"error"} and data["error"]["code"] == 501 and data["error"]["title"] == "Not Implemented"
    return data["error"]["message"]


SHAPES = {NOVA: nova_message, NEUTRON: neutron_message, CINDER: nova_message, GLANCE: keystone_message,
          KEYSTONE: keystone_message}  # fmt: skip


@pytest.fixture
def server(project_a, hosts, flavor, image):
    return Instance.objects.create(
        project=project_a, name="vm", flavor=flavor, image=image, host=hosts[0], vcpus=1, ram_mb=2048,
        disk_gb=20, state="active", power_state="running",
    )  # fmt: skip


def answers_501(cloud, method, path, body):
    response = cloud.call(method, path, body)
    assert response.status_code == 501, (method, path, response.status_code, response.content[:300])
    message = SHAPES[next(base for base in SHAPES if path.startswith(base))](response.data)
    assert message and "Nubes" in message, (method, path, message)


@pytest.mark.parametrize("action", NOVA_ACTIONS, ids=lambda action: next(iter(action)))
def test_unsupported_server_actions_are_novas_501(clouds, server, action):
    answers_501(clouds["alice"], "POST", f"{NOVA}/servers/{server.uuid}/action", action)


def test_an_unknown_server_action_is_still_a_400(clouds, server):
    answer = clouds["alice"].call("POST", f"{NOVA}/servers/{server.uuid}/action", {"fly": None})
    assert answer.status_code == 400 and "fly" in answer.data["badRequest"]["message"]


@pytest.mark.parametrize(
    "method, path, body", NOVA_CALLS + NEUTRON_CALLS + CINDER_CALLS + GLANCE_CALLS + KEYSTONE_CALLS,
    ids=lambda value: value if isinstance(value, str) else "",
)  # fmt: skip
def test_unsupported_calls_are_the_services_501(clouds, server, method, path, body):
    answers_501(clouds["alice"], method, path.replace(SERVER, str(server.uuid)), body)


def test_a_reader_and_an_outsider_get_the_same_501_not_a_500(clouds, server):
    for who in ("bob", "charlie"):
        answers_501(clouds[who], "GET", f"{NEUTRON}/qos/policies", None)
        answers_501(clouds[who], "GET", f"{CINDER}/backups", None)
