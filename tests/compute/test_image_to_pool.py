"""Image data into a host's pool, not the portal's disk: with a real host serving the image's
pool, an upload streams straight into the image's volume there (SHA-256 and format checked on
the way), and another host gets it on first use by a copy streamed from that pool. Here the
hosts are libvirt's test driver flagged real in the database (the gateway keeps small uploads
in memory for test:// URIs, so the bytes can be read back)."""

import hashlib

import pytest

import hypervisor as hv
from compute.choices import ImageFormat, ImageState, Visibility
from compute.models import Host, Image
from compute.services import images
from compute.tasks import instances as tasks
from portal.models import Operation
from tests.compute.test_image_upload import qcow2_bytes, upload


@pytest.fixture(autouse=True)
def no_kept_data(settings, tmp_path):
    settings.NUBES_IMAGE_STORE = str(tmp_path / "store")
    hv.forget_simulated_data()
    yield
    hv.forget_simulated_data()


@pytest.fixture
def real_flagged(hosts):
    """host-a and host-b as the portal sees real hosts (their URIs stay test://)."""
    Host.objects.update(simulated=False)
    return [Host.objects.get(pk=h.pk) for h in hosts]


@pytest.fixture
def queued(db):
    return Image.objects.create(
        name="ubuntu",
        volume="ubuntu.qcow2",
        format=ImageFormat.QCOW2,
        state=ImageState.QUEUED,
        visibility=Visibility.PUBLIC,
    )


def test_an_upload_lands_in_the_pool_of_the_first_real_host_serving_it(api, real_flagged, queued, tmp_path):
    host_a, host_b = real_flagged
    data = qcow2_bytes(virtual_gb=2)
    response = upload(api["admin"], queued, data)
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded" and "in pool default on host-a" in op.message, op.error
    image = Image.objects.get(pk=queued.pk)
    assert image.state == ImageState.ACTIVE and image.file_path == "" and image.virtual_size_gb == 2
    assert b"".join(hv.volume_download(host_a.uri, "default", "ubuntu.qcow2")) == data
    assert hv.volume_info(host_a.uri, "default", "ubuntu.qcow2").capacity_bytes == 2 * 1024**3
    assert not (tmp_path / "store").exists() or list((tmp_path / "store").iterdir()) == []

    copied = tasks._ensure_image(host_b, image)  # first use on host-b: streamed from host-a
    assert copied.name == "ubuntu.qcow2"
    assert hashlib.sha256(b"".join(hv.volume_download(host_b.uri, "default", "ubuntu.qcow2"))).hexdigest() == (
        image.checksum_sha256
    )


def test_a_checksum_mismatch_or_a_short_body_leaves_no_volume(api, admin_user, real_flagged, queued):
    host_a = real_flagged[0]
    Image.objects.filter(pk=queued.pk).update(checksum_sha256="0" * 64)
    upload(api["admin"], queued, qcow2_bytes())
    image = Image.objects.get(pk=queued.pk)
    assert image.state == ImageState.ERROR and "Checksum mismatch" in image.state_reason
    with pytest.raises(hv.VolumeNotFound):
        hv.volume_info(host_a.uri, "default", "ubuntu.qcow2")

    Image.objects.filter(pk=queued.pk).update(checksum_sha256="")
    image.refresh_from_db()
    op = images.upload(admin_user, image, _Short(qcow2_bytes()), length=3 * 1024 * 1024 + 10)
    assert op.status == "failed" and "ended after" in op.error
    with pytest.raises(hv.VolumeNotFound):
        hv.volume_info(host_a.uri, "default", "ubuntu.qcow2")


class _Short:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def read(self, n=-1):
        chunk = self.data[self.pos : self.pos + n]
        self.pos += len(chunk)
        return chunk
