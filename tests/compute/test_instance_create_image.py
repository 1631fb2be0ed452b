"""An image from an instance natively (simulated hosts, tasks eager): /api/v1's create-image
answers 202 with the instance's Operation naming the image, the instance page's form does the
same, a suspended instance is cloned, a busy or locked one is refused, and the reaper's settle
hook for a lost worker removes the copy and the image."""

import pytest
from django.test import Client

import hypervisor as hv
from compute.choices import ImageState
from compute.models import Image
from compute.services import images
from compute.tasks import capture
from portal import operations, quotas
from portal.models import Operation


@pytest.fixture(autouse=True)
def quick_polls(settings):
    settings.NUBES_BLOCKJOB_POLL_S = 0


def create_image(api, run_tasks, instance, user="alice", **body):
    with run_tasks():
        return api[user].post(f"/api/v1/instances/{instance.pk}/create-image/", body, format="json")


def test_the_api_answers_with_the_operation_and_the_image_lists(api, run_tasks, launch):
    _, instance = launch()
    response = create_image(api, run_tasks, instance, name="golden", metadata={"os_distro": "cirros"})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["kind"] == "instance.create_image" and body["target_id"] == str(instance.pk)
    assert Operation.objects.get(pk=body["id"]).status == "succeeded"
    image = Image.objects.get(pk=body["detail"]["image"])
    assert (image.name, image.state, image.project_id, image.properties) == (
        "golden",
        ImageState.ACTIVE,
        instance.project_id,
        {"os_distro": "cirros"},
    )
    listed = api["alice"].get("/api/v1/images/", {"project": instance.project_id}).json()
    assert "golden" in [row["name"] for row in listed["results"]]
    assert "golden" not in [row["name"] for row in api["charlie"].get("/api/v1/images/").json()["results"]]
    bad = create_image(api, run_tasks, instance, name="bad/name")
    assert bad.status_code == 400 and "name" in bad.json()
    assert create_image(api, run_tasks, instance, name="x", extra=1).status_code == 400


def test_a_suspended_instance_is_cloned_and_a_locked_one_refused(api, run_tasks, launch, alice):
    _, instance = launch()
    with run_tasks():
        assert api["alice"].post(f"/api/v1/instances/{instance.pk}/suspend/").status_code == 202
    response = create_image(api, run_tasks, instance, name="asleep")
    assert response.status_code == 202
    assert "from the stopped disk" in Operation.objects.get(pk=response.json()["id"]).message
    instance.refresh_from_db()
    assert instance.state == "suspended"
    instance.locked = True
    instance.save(update_fields=["locked"])
    locked = create_image(api, run_tasks, instance, name="locked")
    assert locked.status_code == 409 and not Image.objects.filter(name="locked").exists()


def test_an_instance_busy_with_another_operation_is_refused(api, launch, admin_user):
    _, instance = launch()
    operations.begin("instance.reboot", instance, user=admin_user)
    busy = api["alice"].post(f"/api/v1/instances/{instance.pk}/create-image/", {"name": "busy"}, format="json")
    assert busy.status_code == 409 and not Image.objects.filter(name="busy").exists()


def test_the_instance_page_offers_the_form_and_queues_the_image(alice, run_tasks, launch):
    _, instance = launch()
    browser = Client()
    browser.force_login(alice)
    page = browser.get(f"/compute/instances/{instance.pk}/").content.decode()
    assert f"/compute/instances/{instance.pk}/create_image/" in page and 'id="create-image"' in page
    with run_tasks():
        response = browser.post(f"/compute/instances/{instance.pk}/create_image/", {"name": "from-page"}, follow=True)
    assert b"Image from-page is being made" in response.content
    assert Image.objects.get(name="from-page").state == ImageState.ACTIVE
    refused = browser.post(f"/compute/instances/{instance.pk}/create_image/", {"name": "from-page"}, follow=True)
    assert b"named from-page already" in refused.content


def test_a_lost_worker_leaves_no_image(api, launch, alice):
    _, instance = launch()
    image, op = capture_started(alice, instance)
    hv.volume_create(instance.host.uri, image.pool, image.volume, 1 << 30, "qcow2")  # the copy, half made
    assert quotas.usage(instance.project)["images"]["in_use"] == 1
    reason = capture.settle_lost(Operation.objects.get(pk=op.pk))
    assert "worker was lost" in reason
    assert not Image.objects.filter(pk=image.pk).exists()
    assert quotas.usage(instance.project)["images"]["in_use"] == 0
    with pytest.raises(hv.VolumeNotFound):
        hv.volume_info(instance.host.uri, image.pool, image.volume)
    assert instance.events.filter(kind="create image failed").exists()


def capture_started(user, instance):
    """The service's part only: the task's message is never sent (the worker "dies" first)."""
    return images.create_from_instance(user, instance, "lost")
