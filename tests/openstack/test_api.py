"""Identity, Compute, Network and Block Storage of the OpenStack-compatible API in-process:
tokens, error shapes, microversions, 501s and the permission matrix."""

import base64
import hashlib
from datetime import timedelta

from django.utils import timezone

from openstack_api.models import KeystoneToken
from portal.models import ApiToken
from tests.conftest import PASSWORD
from tests.openstack.conftest import AUTH, Cloud, password_auth

NOVA = "/openstack/compute/v2.1"
NEUTRON = "/openstack/network/v2.0"
CINDER = "/openstack/volume/v3"


def test_password_token_is_scoped_hashed_and_carries_the_catalog(alice, project_a):
    response = Cloud().call("POST", AUTH, password_auth("alice", project_a))
    assert response.status_code == 201
    plain = response["X-Subject-Token"]
    token = response.data["token"]
    assert token["project"] == {"id": str(project_a.pk), "name": "acme", "domain": {"id": "default", "name": "Default"}}
    assert token["methods"] == ["password"] and token["user"]["name"] == "alice"
    assert {r["name"] for r in token["roles"]} == {"member", "reader"}
    services = {entry["type"]: entry["endpoints"] for entry in token["catalog"]}
    assert set(services) == {"identity", "compute", "image", "network", "volumev3"}
    for endpoints in services.values():
        assert [(e["interface"], e["region"]) for e in endpoints] == [("public", "RegionOne")]
    assert services["compute"][0]["url"] == "http://testserver/openstack/compute/v2.1"
    row = KeystoneToken.objects.get()
    assert row.token_hash == hashlib.sha256(plain.encode()).hexdigest() and plain not in row.token_hash
    assert row.expires > timezone.now() + timedelta(minutes=59)


def test_scope_by_id_region_setting_and_refusals(alice, project_a, project_b, monkeypatch):
    monkeypatch.setenv("NUBES_OPENSTACK_REGION", "Lisbon")
    by_id = Cloud().call("POST", AUTH, password_auth("alice", project_a, by_id=True))
    assert by_id.status_code == 201 and by_id.data["token"]["project"]["name"] == "acme"
    assert by_id.data["token"]["catalog"][0]["endpoints"][0]["region"] == "Lisbon"
    other = Cloud().call("POST", AUTH, password_auth("alice", project_b))
    assert other.status_code == 401 and other.data["error"]["code"] == 401
    wrong = Cloud().call("POST", AUTH, password_auth("alice", project_a, password="nope"))
    assert wrong.status_code == 401 and wrong.data["error"]["title"] == "Unauthorized"
    assert KeystoneToken.objects.count() == 1


def test_validate_head_revoke_and_expiry(clouds):
    alice = clouds["alice"]
    own = alice.token
    shown = alice.call("GET", AUTH, **{"X-Subject-Token": own})
    assert shown.status_code == 200 and shown.data["token"]["user"]["name"] == "alice"
    assert alice.call("HEAD", AUTH, **{"X-Subject-Token": own}).status_code == 200
    other = clouds["charlie"].call("GET", AUTH, **{"X-Subject-Token": own})
    assert other.status_code == 403
    assert alice.call("DELETE", AUTH, **{"X-Subject-Token": own}).status_code == 204
    assert alice.call("GET", f"{NOVA}/servers").status_code == 401
    bob = clouds["bob"]
    KeystoneToken.objects.filter(user__username="bob").update(expires=timezone.now() - timedelta(seconds=1))
    expired = bob.call("GET", f"{NOVA}/flavors")
    assert expired.status_code == 401 and expired.data == {
        "unauthorized": {"code": 401, "message": "The request you have made requires authentication."}
    }


def test_application_credential_is_a_nubes_api_token(alice, project_a):
    row, plain = ApiToken.issue(alice, "ci")
    key_id, secret = plain.split("_", 2)[1:]
    body = {
        "auth": {
            "identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": key_id, "secret": secret},
            }
        }
    }
    ok = Cloud().call("POST", AUTH, body)
    assert ok.status_code == 201
    assert ok.data["token"]["methods"] == ["application_credential"]
    assert ok.data["token"]["project"]["name"] == "acme"
    cloud = Cloud(ok["X-Subject-Token"])
    assert cloud.call("GET", f"{NOVA}/servers").status_code == 200
    body["auth"]["identity"]["application_credential"]["secret"] = "x" + secret
    assert Cloud().call("POST", AUTH, body).status_code == 401
    ApiToken.objects.filter(pk=row.pk).update(revoked=timezone.now())
    assert cloud.call("GET", f"{NOVA}/servers").status_code == 401  # revoking the API token ends its tokens


def test_projects_of_the_user(clouds, alice, charlie):
    projects = clouds["alice"].call("GET", "/openstack/identity/v3/auth/projects").data["projects"]
    assert [p["name"] for p in projects] == ["acme"]
    assert clouds["alice"].call("GET", f"/openstack/identity/v3/users/{alice.pk}/projects").status_code == 200
    assert clouds["alice"].call("GET", f"/openstack/identity/v3/users/{charlie.pk}/projects").status_code == 403


def test_microversions(clouds):
    alice = clouds["alice"]
    plain = alice.call("GET", f"{NOVA}/flavors")
    assert plain["OpenStack-API-Version"] == "compute 2.1" and plain["X-OpenStack-Nova-API-Version"] == "2.1"
    latest = alice.call("GET", f"{NOVA}/flavors", **{"OpenStack-API-Version": "compute latest"})
    assert latest["OpenStack-API-Version"] == "compute 2.38"
    legacy = alice.call("GET", f"{NOVA}/flavors", **{"X-OpenStack-Nova-API-Version": "2.9"})
    assert legacy["X-OpenStack-Nova-API-Version"] == "2.9"
    too_new = alice.call("GET", f"{NOVA}/flavors", **{"OpenStack-API-Version": "compute 2.99"})
    assert too_new.status_code == 406 and too_new.data["notAcceptable"]["code"] == 406
    assert "maximum is 2.38" in too_new.data["notAcceptable"]["message"]
    assert alice.call("GET", f"{NOVA}/flavors", **{"OpenStack-API-Version": "compute two"}).status_code == 400
    document = Cloud().call("GET", "/openstack/compute/")
    assert document.data["versions"][0]["version"] == "2.38" and document.data["versions"][0]["min_version"] == "2.1"


def test_unsupported_calls_are_501_in_each_service_shape(clouds):
    alice = clouds["alice"]
    nova = alice.call("GET", f"{NOVA}/os-services")
    assert nova.status_code == 501 and nova.data["notImplemented"]["code"] == 501
    assert "os-services" in nova.data["notImplemented"]["message"]
    neutron = alice.call("GET", f"{NEUTRON}/qos/policies")
    assert neutron.status_code == 501 and neutron.data["NeutronError"]["type"] == "NotImplemented"
    cinder = alice.call("GET", f"{CINDER}/backups")
    assert cinder.status_code == 501 and cinder.data["notImplemented"]["code"] == 501
    glance = alice.call("GET", "/openstack/image/v2/tasks")
    assert glance.status_code == 501 and glance.data["error"]["code"] == 501


def test_flavor_extra_specs_use_novas_names(clouds, pinned_flavor):
    specs = clouds["alice"].call("GET", f"{NOVA}/flavors/{pinned_flavor.pk}/os-extra_specs").data["extra_specs"]
    assert specs["hw:cpu_policy"] == "dedicated" and specs["hw:numa_nodes"] == "2"
    assert specs["hw:mem_page_size"] == "large" and specs["hw:watchdog_action"] == "reset"
    assert specs["quota:cpu_shares"] == "2048"
    assert (specs["quota:cpu_period"], specs["quota:cpu_quota"]) == ("100000", "50000")
    detail = clouds["alice"].call("GET", f"{NOVA}/flavors/detail").data["flavors"]
    assert [(f["name"], f["vcpus"], f["ram"], f["disk"]) for f in detail] == [("p1.numa", 4, 4096, 20)]


def test_server_lifecycle_and_the_permission_matrix(clouds, hosts, flavor, image, run_tasks):
    alice, bob, charlie = clouds["alice"], clouds["bob"], clouds["charlie"]
    body = {
        "server": {
            "name": "web-1",
            "imageRef": str(image.pk),
            "flavorRef": str(flavor.pk),
            "user_data": base64.b64encode(b"#cloud-config\n").decode(),
        }
    }
    refused = bob.call("POST", f"{NOVA}/servers", body)
    assert refused.status_code == 403 and "forbidden" in refused.data
    with run_tasks():
        created = alice.call("POST", f"{NOVA}/servers", body)
    assert created.status_code == 202, created.content
    server_id = created.data["server"]["id"]
    assert created["Location"].endswith(f"/servers/{server_id}")
    shown = alice.call("GET", f"{NOVA}/servers/{server_id}").data["server"]
    assert (shown["status"], shown["OS-EXT-STS:vm_state"], shown["OS-EXT-STS:power_state"]) == ("ACTIVE", "active", 1)
    assert bob.call("GET", f"{NOVA}/servers/{server_id}").status_code == 200
    hidden = charlie.call("GET", f"{NOVA}/servers/{server_id}")
    assert hidden.status_code == 404 and hidden.data["itemNotFound"]["code"] == 404
    assert charlie.call("GET", f"{NOVA}/servers/detail").data["servers"] == []
    assert charlie.call("POST", f"{NOVA}/servers/{server_id}/action", {"os-stop": None}).status_code == 404
    assert bob.call("POST", f"{NOVA}/servers/{server_id}/action", {"os-stop": None}).status_code == 403
    with run_tasks():
        assert alice.call("POST", f"{NOVA}/servers/{server_id}/action", {"os-stop": None}).status_code == 202
    stopped = alice.call("GET", f"{NOVA}/servers/{server_id}").data["server"]
    assert (stopped["status"], stopped["OS-EXT-STS:vm_state"], stopped["OS-EXT-STS:power_state"]) == (
        "SHUTOFF",
        "stopped",
        4,
    )
    console = alice.call("POST", f"{NOVA}/servers/{server_id}/action", {"os-getConsoleOutput": {"length": 5}})
    assert console.status_code == 200 and "simulated host" in console.data["output"]
    shelve = alice.call("POST", f"{NOVA}/servers/{server_id}/action", {"shelve": None})
    assert shelve.status_code == 501 and "shelve" in shelve.data["notImplemented"]["message"]
    busy_stop = alice.call("POST", f"{NOVA}/servers/{server_id}/action", {"os-stop": None})
    assert busy_stop.status_code == 409 and "conflictingRequest" in busy_stop.data
    with run_tasks():
        renamed = alice.call("PUT", f"{NOVA}/servers/{server_id}", {"server": {"name": "web-2"}})
    assert renamed.status_code == 200 and renamed.data["server"]["name"] == "web-2"
    assert charlie.call("DELETE", f"{NOVA}/servers/{server_id}").status_code == 404
    with run_tasks():
        assert alice.call("DELETE", f"{NOVA}/servers/{server_id}").status_code == 204
    assert alice.call("GET", f"{NOVA}/servers/{server_id}").status_code == 404


def test_bad_server_requests_are_clear_400s(clouds, hosts, flavor, image):
    alice = clouds["alice"]
    base = {"name": "x", "imageRef": str(image.pk), "flavorRef": str(flavor.pk)}
    cases = [
        ({**base, "flavorRef": "999"}, 400, "Flavor 999"),
        ({**base, "imageRef": "999"}, 400, "Image 999"),
        ({**base, "key_name": "missing"}, 400, "key_name"),
        ({**base, "user_data": "!!not base64"}, 400, "user_data"),
        ({**base, "max_count": 3}, 501, "one server per request"),
        ({**base, "networks": [{"port": "abc"}]}, 501, "ports"),
    ]
    for server, status, words in cases:
        response = alice.call("POST", f"{NOVA}/servers", {"server": server})
        assert response.status_code == status, (server, response.content)
        assert words in next(iter(response.data.values()))["message"]
    assert alice.call("POST", f"{NOVA}/servers", {"nothing": {}}).status_code == 400
    malformed = alice.client.post(
        f"{NOVA}/servers", data="{", content_type="application/json", headers={"X-Auth-Token": alice.token}
    )
    assert malformed.status_code == 400
    assert alice.call("GET", f"{NOVA}/servers/detail").data["servers"] == []


def test_key_pairs_are_the_projects(clouds):
    alice, charlie = clouds["alice"], clouds["charlie"]
    made = alice.call("POST", f"{NOVA}/os-keypairs", {"keypair": {"name": "laptop"}})
    assert made.status_code == 200 and "PRIVATE KEY" in made.data["keypair"]["private_key"]
    assert made.data["keypair"]["public_key"].startswith("ssh-ed25519 ")
    assert alice.call("POST", f"{NOVA}/os-keypairs", {"keypair": {"name": "laptop"}}).status_code == 409
    assert [k["keypair"]["name"] for k in alice.call("GET", f"{NOVA}/os-keypairs").data["keypairs"]] == ["laptop"]
    assert "private_key" not in alice.call("GET", f"{NOVA}/os-keypairs/laptop").data["keypair"]
    assert charlie.call("GET", f"{NOVA}/os-keypairs/laptop").status_code == 404
    assert charlie.call("DELETE", f"{NOVA}/os-keypairs/laptop").status_code == 404
    assert alice.call("DELETE", f"{NOVA}/os-keypairs/laptop").status_code == 202


def test_networks_in_neutrons_shape(clouds, run_tasks):
    alice, bob, charlie = clouds["alice"], clouds["bob"], clouds["charlie"]
    assert bob.call("POST", f"{NEUTRON}/networks", {"network": {"name": "n"}}).status_code == 403
    unknown = alice.call("POST", f"{NEUTRON}/networks", {"network": {"name": "n", "colour": "red"}})
    assert unknown.status_code == 400 and "colour" in unknown.data["NeutronError"]["message"]
    with run_tasks():
        made = alice.call("POST", f"{NEUTRON}/networks", {"network": {"name": "web", "admin_state_up": True}})
    assert made.status_code == 201
    network_id = made.data["network"]["id"]
    with run_tasks():
        subnet = alice.call(
            "POST", f"{NEUTRON}/subnets", {"subnet": {"network_id": network_id, "cidr": "10.5.0.0/24", "ip_version": 4}}
        )
    assert subnet.status_code == 201, subnet.content
    assert subnet.data["subnet"]["gateway_ip"] == "10.5.0.1"
    assert subnet.data["subnet"]["allocation_pools"] == [{"start": "10.5.0.2", "end": "10.5.0.254"}]
    listed = alice.call("GET", f"{NEUTRON}/networks?name=web").data["networks"]
    assert [(n["id"], n["subnets"], n["router:external"]) for n in listed] == [
        (network_id, [subnet.data["subnet"]["id"]], False)
    ]
    pairs = {"network_id": network_id, "allowed_address_pairs": [{"ip_address": "10.5.0.100"}]}
    refused = alice.call("POST", f"{NEUTRON}/ports", {"port": pairs})
    assert refused.status_code == 400 and refused.data["NeutronError"]["type"] == "InvalidInput"
    assert "allowed_address_pairs" in refused.data["NeutronError"]["message"]
    assert "port_security_enabled" in refused.data["NeutronError"]["message"]
    hidden = charlie.call("GET", f"{NEUTRON}/networks/{network_id}")
    assert hidden.status_code == 404 and hidden.data["NeutronError"]["type"] == "NetworkNotFound"
    assert charlie.call("GET", f"{NEUTRON}/networks").data["networks"] == []
    assert charlie.call("DELETE", f"{NEUTRON}/networks/{network_id}").status_code == 404
    with run_tasks():
        assert alice.call("DELETE", f"{NEUTRON}/networks/{network_id}").status_code == 204
    assert alice.call("GET", f"{NEUTRON}/networks/{network_id}").status_code == 404
    router = alice.call("POST", f"{NEUTRON}/routers", {"router": {"name": "edge"}})
    assert router.status_code == 501 and router.data["NeutronError"]["type"] == "NotImplemented"
    assert "OVN" in router.data["NeutronError"]["message"]


def test_volume_types_are_pools_and_limits_are_quotas(clouds):
    alice = clouds["alice"]
    assert alice.call("GET", f"{CINDER}/types").data == {"volume_types": []}
    refused = alice.call("POST", f"{CINDER}/volumes", {"volume": {"size": 1, "source_volid": "x"}})
    assert refused.status_code == 501
    no_pool = alice.call("POST", f"{CINDER}/volumes", {"volume": {"size": 1}})
    assert no_pool.status_code == 400 and "No storage pool" in no_pool.data["badRequest"]["message"]
    absolute = alice.call("GET", f"{CINDER}/limits").data["limits"]["absolute"]
    assert (absolute["maxTotalVolumes"], absolute["totalVolumesUsed"]) == (50, 0)
    nova = alice.call("GET", f"{NOVA}/limits").data["limits"]["absolute"]
    assert (nova["maxTotalInstances"], nova["maxTotalCores"], nova["totalInstancesUsed"]) == (20, 64, 0)


def test_server_lists_page_with_limit_marker_and_servers_links(clouds, project_a, hosts, flavor, image):
    from compute.models import Instance

    for n in range(3):
        Instance.objects.create(
            project=project_a, name=f"vm{n}", flavor=flavor, image=image, host=hosts[0], vcpus=1, ram_mb=2048,
            disk_gb=20, state="active", power_state="running",
        )  # fmt: skip
    alice = clouds["alice"]
    first = alice.call("GET", f"{NOVA}/servers/detail?limit=2").data
    assert [s["name"] for s in first["servers"]] == ["vm2", "vm1"]
    assert all(s["status"] == "ACTIVE" and s["OS-EXT-STS:task_state"] is None for s in first["servers"])
    next_href = first["servers_links"][0]["href"]
    assert "marker=" in next_href and "limit=2" in next_href
    rest = alice.call("GET", next_href.replace("http://testserver", "")).data
    assert [s["name"] for s in rest["servers"]] == ["vm0"] and "servers_links" not in rest
    assert alice.call("GET", f"{NOVA}/servers?marker=nope").status_code == 400


def test_the_clients_page_and_command_print_clouds_yaml(alice, project_a):
    import io

    from django.core.management import call_command
    from django.test import Client

    browser = Client()
    browser.force_login(alice)
    page = browser.get("/openstack/clients/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "http://testserver/openstack/identity/v3" in text and "project_name: &quot;acme&quot;" in text
    assert PASSWORD not in text
    download = browser.get(f"/openstack/clients/?project={project_a.pk}&download=openrc.sh")
    assert download["Content-Disposition"] == 'attachment; filename="openrc.sh"'
    assert 'export OS_USERNAME="alice"' in download.content.decode()
    assert Client().get("/openstack/clients/").status_code == 302  # sign in first
    _, plain = ApiToken.issue(alice, "ci")
    out = io.StringIO()
    call_command("openstack_config", user="alice", url="https://cloud.example", token=plain, stdout=out)
    written = out.getvalue()
    assert 'auth_type: "v3applicationcredential"' in written
    assert f'application_credential_id: "{plain.split("_")[1]}"' in written
    assert 'auth_url: "https://cloud.example/openstack/identity/v3"' in written
