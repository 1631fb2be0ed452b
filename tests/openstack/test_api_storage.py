"""Image v2 create / upload / download / delete and Block Storage v3 snapshots, volumes from
snapshots and os-extend of the OpenStack-compatible API in-process, each with the permission
matrix: readers refused, other projects see nothing, image data is a cloud admin's."""

import hashlib
import os

import pytest

from compute.models import Image
from storage.models import Snapshot, Volume
from tests.compute.test_image_upload import qcow2_bytes, store  # noqa: F401
from tests.openstack.conftest import login
from tests.storage.conftest import define_pool

GLANCE = "/openstack/image/v2"
CINDER = "/openstack/volume/v3"


def put_data(cloud, image_id, data):
    return cloud.client.put(
        f"{GLANCE}/images/{image_id}/file",
        data=data,
        content_type="application/octet-stream",
        headers={"X-Auth-Token": cloud.token},
    )


def test_images_are_created_uploaded_downloaded_and_deleted_by_cloud_admins(
    clouds, project_a, admin_user, store, run_tasks
):
    alice, charlie = clouds["alice"], clouds["charlie"]
    admin = login(admin_user, project_a)
    body = {"name": "debian", "disk_format": "qcow2", "container_format": "bare", "visibility": "private"}
    refused = alice.call("POST", f"{GLANCE}/images", body)
    assert refused.status_code == 403 and "Only cloud admins" in refused.data["error"]["message"]
    for bad, words in (
        ({**body, "container_format": "ovf"}, "container_format"),
        ({**body, "disk_format": "vmdk"}, "disk_format"),
        ({**body, "visibility": "community"}, "visibility"),
        ({**body, "hw_disk_bus": "scsi"}, "hw_disk_bus"),
    ):
        answer = admin.call("POST", f"{GLANCE}/images", bad)
        assert answer.status_code == 400 and words in answer.data["error"]["message"], answer.content
    created = admin.call("POST", f"{GLANCE}/images", {**body, "owner_specified.openstack.md5": "x"})
    assert created.status_code == 201, created.content
    image = created.data
    assert (image["status"], image["visibility"], image["owner"]) == ("queued", "private", str(project_a.pk))
    assert alice.call("GET", f"{GLANCE}/images/{image['id']}/file").status_code == 204  # no data yet

    data = qcow2_bytes()
    assert put_data(alice, image["id"], data).status_code == 403
    assert put_data(charlie, image["id"], data).status_code == 404
    bad = put_data(admin, image["id"], b"KDMV" + bytes(600))
    assert bad.status_code == 400 and "Not a qcow2 image" in bad.json()["error"]["message"]
    assert put_data(admin, image["id"], data).status_code == 204
    shown = alice.call("GET", f"{GLANCE}/images/{image['id']}").data
    assert (shown["status"], shown["size"], shown["os_hash_value"]) == (
        "active",
        len(data),
        hashlib.sha256(data).hexdigest(),
    )
    again = put_data(admin, image["id"], data)
    assert again.status_code == 409

    download = alice.client.get(f"{GLANCE}/images/{image['id']}/file", headers={"X-Auth-Token": alice.token})
    assert download.status_code == 200 and b"".join(download.streaming_content) == data
    assert charlie.call("GET", f"{GLANCE}/images/{image['id']}/file").status_code == 404
    assert charlie.call("GET", f"{GLANCE}/images/{image['id']}").status_code == 404
    assert image["id"] not in {i["id"] for i in charlie.call("GET", f"{GLANCE}/images").data["images"]}

    assert alice.call("DELETE", f"{GLANCE}/images/{image['id']}").status_code == 403
    assert charlie.call("DELETE", f"{GLANCE}/images/{image['id']}").status_code == 404
    stored = Image.objects.get(pk=image["id"]).file_path
    with run_tasks():  # the delete's task removes its data, then the image
        assert admin.call("DELETE", f"{GLANCE}/images/{image['id']}").status_code == 204
    assert not Image.objects.filter(pk=image["id"]).exists()
    assert stored and not os.path.exists(stored)


@pytest.fixture
def pool(hosts, admin_user, run_tasks):
    return define_pool(admin_user, run_tasks, hosts[:1], "host-a-default")


def test_volume_snapshots_clones_and_extend(clouds, pool, run_tasks):
    alice, bob, charlie = clouds["alice"], clouds["bob"], clouds["charlie"]
    with run_tasks():
        volume = alice.call("POST", f"{CINDER}/volumes", {"volume": {"size": 1, "name": "data"}}).data["volume"]
    snap = {"snapshot": {"volume_id": volume["id"], "name": "before", "force": True}}
    assert bob.call("POST", f"{CINDER}/snapshots", snap).status_code == 403
    assert charlie.call("POST", f"{CINDER}/snapshots", snap).status_code == 404
    with run_tasks():
        created = alice.call("POST", f"{CINDER}/snapshots", snap)
    assert created.status_code == 202, created.content
    snapshot_id = created.data["snapshot"]["id"]
    shown = alice.call("GET", f"{CINDER}/snapshots/{snapshot_id}").data["snapshot"]
    assert (shown["status"], shown["volume_id"], shown["size"], shown["name"]) == (
        "available",
        volume["id"],
        1,
        "before",
    )
    listed = alice.call("GET", f"{CINDER}/snapshots/detail?volume_id={volume['id']}").data["snapshots"]
    assert [s["id"] for s in listed] == [snapshot_id]
    assert charlie.call("GET", f"{CINDER}/snapshots").data["snapshots"] == []
    assert charlie.call("GET", f"{CINDER}/snapshots/{snapshot_id}").status_code == 404
    clone = {"volume": {"snapshot_id": snapshot_id, "name": "restored"}}
    other = charlie.call("POST", f"{CINDER}/volumes", clone)
    assert other.status_code == 400 and f"Snapshot {snapshot_id}" in other.data["badRequest"]["message"]
    with run_tasks():
        restored = alice.call("POST", f"{CINDER}/volumes", clone)
    assert restored.status_code == 202, restored.content
    assert Volume.objects.get(uuid=restored.data["volume"]["id"]).source == "snapshot"

    extend = {"os-extend": {"new_size": 3}}
    assert bob.call("POST", f"{CINDER}/volumes/{volume['id']}/action", extend).status_code == 403
    assert charlie.call("POST", f"{CINDER}/volumes/{volume['id']}/action", extend).status_code == 404
    shrink = alice.call("POST", f"{CINDER}/volumes/{volume['id']}/action", {"os-extend": {"new_size": 1}})
    assert shrink.status_code == 400 and "only grows" in shrink.data["badRequest"]["message"]
    other_action = alice.call("POST", f"{CINDER}/volumes/{volume['id']}/action", {"os-retype": {}})
    assert other_action.status_code == 501
    with run_tasks():
        assert alice.call("POST", f"{CINDER}/volumes/{volume['id']}/action", extend).status_code == 202
    assert alice.call("GET", f"{CINDER}/volumes/{volume['id']}").data["volume"]["size"] == 3

    assert bob.call("DELETE", f"{CINDER}/snapshots/{snapshot_id}").status_code == 403
    in_use = alice.call("DELETE", f"{CINDER}/snapshots/{snapshot_id}")  # the clone is a qcow2 overlay on it
    assert in_use.status_code == 409 and "linked clones" in in_use.data["conflictingRequest"]["message"]
    with run_tasks():
        assert alice.call("DELETE", f"{CINDER}/volumes/{restored.data['volume']['id']}").status_code == 202
    assert charlie.call("DELETE", f"{CINDER}/snapshots/{snapshot_id}").status_code == 404
    with run_tasks():
        deleted = alice.call("DELETE", f"{CINDER}/snapshots/{snapshot_id}")
    assert deleted.status_code == 202, deleted.content
    assert alice.call("GET", f"{CINDER}/snapshots/{snapshot_id}").status_code == 404
    assert not Snapshot.objects.exists()
