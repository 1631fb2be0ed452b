"""Deleting an image removes what it made on every host: its volume in its pool on each host
serving that pool (through the gateway, as for a remote host), its file in the image store,
then the row, in an Operation. Refused (409) while anything uses it, a linked clone above all;
a host that does not answer leaves the image in error, saying where its data remains. Hosts
are libvirt's test driver flagged real (the gateway keeps the uploaded bytes in memory)."""

import pytest

import hypervisor as hv
from compute.choices import ImageState, InstanceState
from compute.models import Host, Image
from portal.models import Operation
from storage.choices import VolumeSource
from storage.models import StoragePool, Volume
from tests.compute.test_image_to_pool import no_kept_data, queued, real_flagged  # noqa: F401 - fixtures
from tests.compute.test_image_upload import qcow2_bytes, upload
from tests.openstack.conftest import login

GLANCE = "/openstack/image/v2/images"


@pytest.fixture
def on_both(api, real_flagged, queued):  # noqa: F811 - the fixtures above
    """The image uploaded into host-a's pool and copied to host-b's on first use."""
    from compute.tasks import instances as tasks

    upload(api["admin"], queued, qcow2_bytes())
    image = Image.objects.get(pk=queued.pk)
    assert image.state == ImageState.ACTIVE, image.state_reason
    tasks._ensure_image(real_flagged[1], image)
    for host in real_flagged:
        assert hv.volume_info(host.uri, image.pool, image.volume)
    return image


def gone_everywhere(image):
    for host in Host.objects.all():
        with pytest.raises(hv.VolumeNotFound):
            hv.volume_info(host.uri, image.pool, image.volume)
    return True


def test_the_native_delete_removes_the_volume_on_every_host_then_the_image(api, run_tasks, on_both):
    with run_tasks():
        response = api["admin"].delete(f"/api/v1/images/{on_both.pk}/")
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.kind == "image.delete" and op.status == "succeeded", op.error
    assert "host-a, host-b" in op.message
    assert not Image.objects.filter(pk=on_both.pk).exists() and gone_everywhere(on_both)


def test_the_glance_delete_and_the_image_page_remove_the_volume_too(
    admin_user, project_a, admin_client, run_tasks, on_both
):
    admin = login(admin_user, project_a)
    with run_tasks():
        assert admin.call("DELETE", f"{GLANCE}/{on_both.pk}").status_code == 204
    assert not Image.objects.filter(pk=on_both.pk).exists() and gone_everywhere(on_both)

    other = Image.objects.create(name="other", volume="other.qcow2", pool=on_both.pool)
    hv.volume_create(Host.objects.get(name="host-b").uri, other.pool, other.volume, 1 << 20, "qcow2")
    with run_tasks():
        response = admin_client.post(f"/compute/images/{other.pk}/delete/")
    assert response.status_code == 302
    assert not Image.objects.filter(pk=other.pk).exists() and gone_everywhere(other)


def test_an_image_in_use_by_an_instance_is_refused_with_409_and_kept(api, admin_user, project_a, launch, image):
    _response, instance = launch()
    assert instance.state == InstanceState.ACTIVE
    response = api["admin"].delete(f"/api/v1/images/{image.pk}/")
    assert response.status_code == 409 and "in use by instance web-1" in response.json()["detail"]
    refusal = login(admin_user, project_a).call("DELETE", f"{GLANCE}/{image.pk}")
    assert refusal.status_code == 409 and "web-1" in refusal.content.decode()
    image.refresh_from_db()
    assert image.state == ImageState.ACTIVE and not Operation.objects.filter(kind="image.delete").exists()


def test_a_deleted_instance_s_record_does_not_keep_its_image(api, run_tasks, launch, image, admin_client):
    _response, instance = launch()
    with run_tasks():
        assert api["admin"].delete(f"/api/v1/instances/{instance.pk}/").status_code == 202
    instance.refresh_from_db()
    assert instance.state == InstanceState.DELETED
    with run_tasks():
        response = api["admin"].delete(f"/api/v1/images/{image.pk}/")
    assert response.status_code == 202, response.content
    assert not Image.objects.filter(pk=image.pk).exists()
    instance.refresh_from_db()
    assert instance.image is None and instance.state == InstanceState.DELETED  # the record stays
    page = admin_client.get(f"/compute/instances/{instance.pk}/")
    assert page.status_code == 404, page.status_code  # deleted records are not shown


def test_a_linked_clone_volume_made_from_the_image_refuses_its_delete(api, on_both, project_a):
    pool = StoragePool.objects.create(name="default", libvirt_name=on_both.pool, type="dir", target_path="/p")
    base = hv.volume_info(Host.objects.get(name="host-a").uri, on_both.pool, on_both.volume).path
    Volume.objects.create(
        project=project_a,
        name="data",
        pool=pool,
        size_gb=1,
        source=VolumeSource.IMAGE,
        source_image=on_both,
        backing_path=base,
        state="available",
    )
    Volume.objects.create(  # a full copy: nothing of it rests on the image
        project=project_a, name="copy", pool=pool, size_gb=1, source=VolumeSource.IMAGE, source_image=on_both
    )
    response = api["admin"].delete(f"/api/v1/images/{on_both.pk}/")
    assert response.status_code == 409, response.content
    assert "volume data (a linked clone)" in response.json()["detail"] and "copy" not in response.json()["detail"]
    assert hv.volume_info(Host.objects.get(name="host-b").uri, on_both.pool, on_both.volume)


def test_a_host_that_does_not_answer_leaves_the_image_in_error_then_a_second_delete_finishes(
    api, run_tasks, on_both, monkeypatch
):
    real_delete = hv.volume_delete

    def host_b_down(uri, pool, name, **kwargs):
        if "host-b" in uri:
            raise hv.HypervisorError("cannot connect", uri=uri)
        return real_delete(uri, pool, name, **kwargs)

    monkeypatch.setattr(hv, "volume_delete", host_b_down)
    with run_tasks():
        response = api["admin"].delete(f"/api/v1/images/{on_both.pk}/")
    op = Operation.objects.get(pk=response.json()["id"])
    image = Image.objects.get(pk=on_both.pk)
    assert op.status == "failed" and image.state == ImageState.ERROR
    assert "on host-b" in image.state_reason and "Delete it again" in image.state_reason

    monkeypatch.setattr(hv, "volume_delete", real_delete)
    with run_tasks():
        assert api["admin"].delete(f"/api/v1/images/{on_both.pk}/").status_code == 202
    assert not Image.objects.filter(pk=on_both.pk).exists() and gone_everywhere(on_both)


@pytest.mark.parametrize(("user", "status"), [("alice", 403), ("bob", 403), ("charlie", 403)])
def test_only_cloud_admins_delete_a_public_image(api, image, user, status):
    assert api[user].delete(f"/api/v1/images/{image.pk}/").status_code == status
    assert Image.objects.filter(pk=image.pk).exists()


def test_a_simulated_hosts_stand_in_volume_is_forgotten(api, run_tasks, hosts, image):
    host = hosts[0]  # simulated: what a launch stands in for the image (compute.tasks.instances)
    hv.volume_create(host.uri, image.pool, image.volume, 1 << 30, image.format)
    with run_tasks():
        assert api["admin"].delete(f"/api/v1/images/{image.pk}/").status_code == 202
    assert not Image.objects.filter(pk=image.pk).exists()
    with pytest.raises(hv.VolumeNotFound):
        hv.volume_info(host.uri, image.pool, image.volume)
