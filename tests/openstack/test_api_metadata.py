"""Compute v2.1 server metadata in-process: at create, the collection (GET / POST merges / PUT
replaces) and one item (GET / PUT / DELETE), Nova's limits and error shapes, the audit log;
readers get 403 and other projects 404 on every call."""

from compute.models import Instance
from portal.models import AuditEvent
from tests.openstack.conftest import login
from tests.openstack.test_api_actions import act

NOVA = "/openstack/compute/v2.1"


def test_server_metadata_at_create_and_after(clouds, project_a, admin_user, hosts, flavor, image, run_tasks):
    alice, bob, charlie = clouds["alice"], clouds["bob"], clouds["charlie"]
    body = {"server": {"name": "meta-1", "imageRef": str(image.pk), "flavorRef": str(flavor.pk)}}
    too_many = {**body["server"], "metadata": {f"k{i}": "v" for i in range(129)}}
    refused = alice.call("POST", f"{NOVA}/servers", {"server": too_many})
    assert refused.status_code == 403 and "metadata_items" in refused.data["forbidden"]["message"]
    for bad in ({"k": 1}, {"": "v"}, {"k" * 256: "v"}, {"k": "v" * 256}, ["k"]):
        answer = alice.call("POST", f"{NOVA}/servers", {"server": {**body["server"], "metadata": bad}})
        assert answer.status_code == 400 and "badRequest" in answer.data, bad
    assert not Instance.objects.exists()
    with run_tasks():
        created = alice.call("POST", f"{NOVA}/servers", {"server": {**body["server"], "metadata": {"role": "web"}}})
    assert created.status_code == 202, created.content
    server_id = created.data["server"]["id"]
    path = f"{NOVA}/servers/{server_id}/metadata"
    assert alice.call("GET", f"{NOVA}/servers/{server_id}").data["server"]["metadata"] == {"role": "web"}
    assert alice.call("GET", path).data == {"metadata": {"role": "web"}}
    assert bob.call("GET", path).data == {"metadata": {"role": "web"}}  # readers read

    merged = alice.call("POST", path, {"metadata": {"tier": "front", "k" * 255: "v" * 255}})
    assert merged.status_code == 200 and merged.data["metadata"] == {
        "role": "web",
        "tier": "front",
        "k" * 255: "v" * 255,
    }
    replaced = alice.call("PUT", path, {"metadata": {"tier": "back"}})
    assert replaced.status_code == 200 and replaced.data == {"metadata": {"tier": "back"}}
    assert Instance.objects.get().metadata == {"tier": "back"}

    item = f"{path}/tier"
    assert alice.call("GET", item).data == {"meta": {"tier": "back"}}
    assert alice.call("PUT", item, {"meta": {"tier": "db"}}).data == {"meta": {"tier": "db"}}
    mismatch = alice.call("PUT", item, {"meta": {"role": "db"}})
    assert mismatch.status_code == 400 and mismatch.data["badRequest"]["message"] == "Request body and URI mismatch"
    two = alice.call("PUT", item, {"meta": {"tier": "a", "x": "b"}})
    assert two.status_code == 400 and "too many items" in two.data["badRequest"]["message"]
    assert alice.call("PUT", item, {"meta": {"tier": 5}}).status_code == 400
    assert alice.call("PUT", item, {"nometa": {}}).status_code == 400
    assert alice.call("POST", path, {"metadata": "x"}).status_code == 400
    assert alice.call("POST", path).status_code == 400  # no body at all
    full = alice.call("PUT", path, {"metadata": {f"k{i}": "v" for i in range(129)}})
    assert full.status_code == 403 and "metadata_items" in full.data["forbidden"]["message"]
    missing = alice.call("GET", f"{path}/nope")
    assert missing.status_code == 404 and missing.data["itemNotFound"]["message"] == "Metadata item was not found"
    assert alice.call("DELETE", f"{path}/nope").status_code == 404

    for call in (("POST", path, {"metadata": {"a": "b"}}), ("PUT", path, {"metadata": {}}),
                 ("PUT", item, {"meta": {"tier": "x"}}), ("DELETE", item, None)):  # fmt: skip
        refused = bob.call(*call)
        assert refused.status_code == 403 and "Readers" in refused.data["forbidden"]["message"], call
        assert charlie.call(*call).status_code == 404, call
    assert charlie.call("GET", path).status_code == 404 and charlie.call("GET", item).status_code == 404
    assert Instance.objects.get().metadata == {"tier": "db"}

    assert act(alice, run_tasks, server_id, {"lock": None}).status_code == 202
    locked = alice.call("DELETE", item)
    assert locked.status_code == 409 and "locked" in locked.data["conflictingRequest"]["message"]
    assert alice.call("GET", path).status_code == 200  # reading is not acting
    admin = login(admin_user, project_a)
    assert act(admin, run_tasks, server_id, {"unlock": None}).status_code == 202
    assert alice.call("DELETE", item).status_code == 204
    assert alice.call("GET", path).data == {"metadata": {}}
    # each change once: at create, POST, PUT, PUT of an item, DELETE of an item
    assert AuditEvent.objects.filter(action="instance.metadata").count() == 5
    limits = alice.call("GET", f"{NOVA}/limits").data["limits"]["absolute"]
    assert limits["maxServerMeta"] == 128
