"""createImage on the lab: the lab guest runs on host B (qemu+tcp://), alice makes an image of it
through /api/v1 (a live block copy on B into the shared pool nubes-shared, which host A, the
image's home host, sees too), and a new instance booted from that image on host A heartbeats:
the copied root filesystem boots. Everything made is removed after (instances through the API,
the image's volume by hand: deleting an image row leaves its data, as for uploaded images)."""

import pytest

import hypervisor as hv
from compute.choices import InstanceState
from compute.models import Image, Instance
from portal.models import Operation
from tests.conftest import client_for
from tests.integration.conftest import booted, launch_payload

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_image_of_a_guest_on_host_b_boots_on_host_a(admin_api, lab_cloud, host_a, host_b, project_a, alice):
    alice_api = client_for(alice)
    image = None
    try:
        with booted(admin_api, launch_payload(lab_cloud, project_a, host_b, "it-capture-b"), [host_b]) as instance:
            response = alice_api.post(
                f"/api/v1/instances/{instance.pk}/create-image/", {"name": "it-captured"}, format="json"
            )
            assert response.status_code == 202, response.content
            op = Operation.objects.get(pk=response.json()["id"])
            assert op.status == "succeeded", op.error
            assert "live, a mirror of the running disk" in op.message and "shared by" in op.message, op.message
            image = Image.objects.get(pk=op.detail["image"])
            assert (image.state, image.project_id, image.kernel_path) == (
                "active",
                project_a.pk,
                instance.image.kernel_path,
            )
            info = hv.volume_info(host_a.uri, image.pool, image.volume)
            assert info.backing_path in (None, "") and info.capacity_bytes == instance.disk_gb << 30
            assert hv.domain_state(host_b.uri, str(instance.uuid)).state == "running"
        payload = {**launch_payload(lab_cloud, project_a, host_a, "it-from-image"), "image": image.pk}
        with booted(admin_api, payload, [host_a]) as second:
            assert second.image_id == image.pk and second.host_id == host_a.pk
    finally:
        if image is not None:
            for host in (host_a, host_b):
                try:
                    hv.volume_delete(host.uri, image.pool, image.volume)
                except hv.HypervisorError:
                    pass  # a shared pool: the other host's delete removed the file
            Instance.objects.filter(image=image, state=InstanceState.DELETED).delete()  # their history
            Image.objects.filter(pk=image.pk).delete()
