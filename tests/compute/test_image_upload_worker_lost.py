"""An image upload runs in the web process while its request lasts, under a lease like a task's
(as a volume upload does): if that process dies mid-way, the reaper fails the Operation within
lease + reaper round (it stayed running for the 30-minute time limit, the image `saving`, before)
and the settle hook removes the partial volume from the image's pool and leaves the image in
error, ready for another upload."""

from datetime import timedelta

import pytest
from django.utils import timezone

import hypervisor as hv
from compute.choices import ImageState
from compute.models import Image
from portal import leases, operations
from portal.models import Operation
from tests.compute.test_image_to_pool import no_kept_data, queued, real_flagged  # noqa: F401 (fixtures)
from tests.compute.test_image_upload import qcow2_bytes, upload


def test_an_image_upload_holds_a_lease_in_the_web_process_that_runs_it(api, real_flagged, queued):  # noqa: F811
    response = upload(api["admin"], queued, qcow2_bytes())
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded" and op.worker.startswith("web@") and op.lease_expires_at is not None


def test_an_image_upload_whose_web_process_died_is_failed_and_leaves_no_partial_volume(
    admin_user,
    real_flagged,  # noqa: F811
    queued,  # noqa: F811
):
    host_a = real_flagged[0]
    op = operations.begin("image.upload", queued, user=admin_user, detail={"bytes": 3 << 20})
    leases.claim(op.pk, worker="web@portal-1/4242")  # the request began streaming, then its process was killed
    Image.objects.filter(pk=queued.pk).update(state=ImageState.SAVING)
    hv.volume_create(host_a.uri, "default", queued.volume, 1 << 20, "qcow2")  # the half-written volume
    Operation.objects.filter(pk=op.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    assert leases.reap() == [(op.pk, "failed")]
    op.refresh_from_db()
    assert "Worker lost: web@portal-1/4242" in op.error and "nothing of it was kept" in op.error
    image = Image.objects.get(pk=queued.pk)
    assert image.state == ImageState.ERROR and "interrupted" in image.state_reason
    with pytest.raises(hv.VolumeNotFound):
        hv.volume_info(host_a.uri, "default", queued.volume)
    assert operations.active_on(image) is None  # it takes another upload
