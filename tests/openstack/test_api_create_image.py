"""Nova's createImage in-process (simulated hosts, tasks eager): the image appears in Glance,
private to the project, counted against its images quota, and boots a new server; readers are
refused, other projects see nothing, states that cannot be imaged are a 409, and a failed copy
leaves no image, no volume and no quota behind."""

import pytest

import hypervisor as hv
from compute.models import Image, Instance
from portal import quotas
from portal.models import Operation, Quota
from tests.openstack.test_api_actions import act, launch, show

GLANCE = "/openstack/image/v2"


@pytest.fixture(autouse=True)
def quick_polls(settings):
    settings.NUBES_BLOCKJOB_POLL_S = 0


def create_image(cloud, run_tasks, server_id, name="snap-1", **extra):
    return act(cloud, run_tasks, server_id, {"createImage": {"name": name, **extra}})


def image_id_of(response):
    assert response.status_code == 202, response.content
    assert response.content == b""
    return response["Location"].rsplit("/", 1)[1]


def images_in_use(project):
    return quotas.usage(project)["images"]["in_use"]


def image_volumes(instance):
    return [v.name for v in hv.list_volumes(instance.host.uri, "default") if v.name.startswith("image-")]


def test_a_running_server_is_imaged_and_the_image_boots_a_new_server(clouds, hosts, flavor, image, run_tasks):
    alice, bob, charlie = clouds["alice"], clouds["bob"], clouds["charlie"]
    server_id = launch(alice, run_tasks, flavor, image)
    instance = Instance.objects.get(uuid=server_id)
    assert create_image(bob, run_tasks, server_id).status_code == 403
    assert create_image(charlie, run_tasks, server_id).status_code == 404

    made = create_image(alice, run_tasks, server_id, metadata={"purpose": "golden"})
    image_id = image_id_of(made)
    assert made["Location"].endswith(f"/openstack/image/v2/images/{image_id}")
    body = alice.call("GET", f"{GLANCE}/images/{image_id}").data
    assert (body["status"], body["visibility"], body["owner"]) == ("active", "private", str(instance.project_id))
    assert (body["image_type"], body["instance_uuid"], body["purpose"]) == ("snapshot", server_id, "golden")
    assert (body["disk_format"], body["min_disk"]) == ("qcow2", flavor.disk_gb)
    assert charlie.call("GET", f"{GLANCE}/images/{image_id}").status_code == 404
    assert image_id not in [i["id"] for i in charlie.call("GET", f"{GLANCE}/images").data["images"]]
    op = Operation.objects.get(kind="instance.create_image")
    assert op.status == "succeeded" and "live, a mirror of the running disk" in op.message, op.message
    assert images_in_use(instance.project) == 1
    made_image = Image.objects.get(pk=image_id)
    assert image_volumes(instance) == [made_image.volume]
    assert show(alice, server_id)["status"] == "ACTIVE"
    assert instance.events.filter(kind="create image done").exists()

    second = launch(alice, run_tasks, flavor, made_image, name="web-2")
    assert show(alice, second)["status"] == "ACTIVE"
    assert Instance.objects.get(uuid=second).image_id == made_image.pk


def test_a_stopped_server_is_cloned_and_members_delete_the_image(clouds, hosts, flavor, image, run_tasks):
    alice, bob = clouds["alice"], clouds["bob"]
    server_id = launch(alice, run_tasks, flavor, image)
    assert act(alice, run_tasks, server_id, {"os-stop": None}).status_code == 202
    image_id = image_id_of(create_image(alice, run_tasks, server_id, name="stopped"))
    op = Operation.objects.get(kind="instance.create_image")
    assert op.status == "succeeded" and "from the stopped disk" in op.message
    project = Instance.objects.get(uuid=server_id).project
    assert images_in_use(project) == 1
    assert bob.call("DELETE", f"{GLANCE}/images/{image_id}").status_code == 403
    with run_tasks():
        assert alice.call("DELETE", f"{GLANCE}/images/{image_id}").status_code == 204
    assert not Image.objects.filter(pk=image_id).exists()
    assert images_in_use(project) == 0
    # a public image stays a cloud admin's to delete
    assert alice.call("DELETE", f"{GLANCE}/images/{image.pk}").status_code == 403


def test_refusals_are_nova_conflicts_and_leave_nothing(clouds, hosts, flavor, image, run_tasks):
    alice = clouds["alice"]
    server_id = launch(alice, run_tasks, flavor, image)
    instance = Instance.objects.get(uuid=server_id)
    image_id_of(create_image(alice, run_tasks, server_id, name="once"))
    twice = create_image(alice, run_tasks, server_id, name="once")
    assert twice.status_code == 409 and "named once already" in twice.data["conflictingRequest"]["message"]
    Instance.objects.filter(pk=instance.pk).update(state="error")
    broken = create_image(alice, run_tasks, server_id, name="broken")
    assert broken.status_code == 409 and "while it is error" in broken.data["conflictingRequest"]["message"]
    Instance.objects.filter(pk=instance.pk).update(state="active")
    assert create_image(alice, run_tasks, server_id, name="").status_code == 400
    assert create_image(alice, run_tasks, server_id, name="x", metadata=["no"]).status_code == 400
    Quota.objects.filter(project=instance.project, resource="images").update(limit=1)
    over = create_image(alice, run_tasks, server_id, name="over")
    assert over.status_code == 403 and "Quota exceeded for Images" in over.data["forbidden"]["message"]
    assert list(Image.objects.filter(instance_uuid=instance.uuid).values_list("name", flat=True)) == ["once"]
    assert images_in_use(instance.project) == 1


def test_a_failed_copy_leaves_no_half_image(clouds, hosts, flavor, image, run_tasks, monkeypatch):
    alice = clouds["alice"]
    server_id = launch(alice, run_tasks, flavor, image)
    instance = Instance.objects.get(uuid=server_id)

    def broken(*args, **kwargs):
        raise hv.OperationFailed("the mirror broke off")

    monkeypatch.setattr(hv, "block_copy", broken)
    image_id = image_id_of(create_image(alice, run_tasks, server_id, name="doomed"))
    op = Operation.objects.get(kind="instance.create_image")
    assert op.status == "failed" and "the mirror broke off" in op.error
    assert not Image.objects.filter(pk=image_id).exists()
    assert alice.call("GET", f"{GLANCE}/images/{image_id}").status_code == 404
    assert image_volumes(instance) == []
    assert images_in_use(instance.project) == 0
    event = instance.events.get(kind="create image failed")
    assert "nothing of it was kept" in event.detail
    assert show(alice, server_id)["status"] == "ACTIVE"
