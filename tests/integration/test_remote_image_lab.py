"""An image uploaded through the API streams straight into its pool on a remote host: with host A
out of the way (maintenance in the database), the image's pool nubes-shared is served by host B
(qemu+tcp://10.99.0.2/system), so the body goes over the libvirt connection into the image's
volume there; nothing lands on the portal's disk, and the bytes read back from B are the upload's.
Deleting the image then removes that volume from B's pool (virsh vol-list on B no longer lists it)."""

import hashlib
import subprocess
import uuid

import pytest

import hypervisor as hv
from compute.choices import ImageFormat, ImageState, Visibility
from compute.models import Host, Image
from portal.models import Operation

pytestmark = pytest.mark.django_db(transaction=True)
SHARED = "nubes-shared"


def test_an_image_upload_lands_in_host_bs_pool(admin_api, lab_cloud, host_a, host_b, tmp_path, settings):
    settings.NUBES_IMAGE_STORE = str(tmp_path / "store")
    Host.objects.filter(pk=host_a.pk).update(state="maintenance")
    name = f"it-remote-img-{uuid.uuid4().hex[:8]}.qcow2"
    image = Image.objects.create(
        name="it-remote",
        volume=name,
        pool=SHARED,
        format=ImageFormat.QCOW2,
        state=ImageState.QUEUED,
        visibility=Visibility.PUBLIC,
    )
    source = tmp_path / "src.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(source), "256M"], check=True)
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", "write -P 0x6b 0 16M", str(source)], check=True, capture_output=True
    )
    data = source.read_bytes()
    source.unlink()
    try:
        response = admin_api.post(f"/api/v1/images/{image.pk}/upload/", data, content_type="application/octet-stream")
        op = Operation.objects.get(pk=response.json()["id"])
        assert op.status == "succeeded" and f"on {host_b.name}" in op.message, op.error or op.message
        image.refresh_from_db()
        assert image.file_path == "" and image.checksum_sha256 == hashlib.sha256(data).hexdigest()
        assert not (tmp_path / "store").exists() or list((tmp_path / "store").iterdir()) == []
        assert hv.volume_info(host_b.uri, SHARED, name).capacity_bytes == 256 << 20
        assert b"".join(hv.volume_download(host_b.uri, SHARED, name)) == data

        deleted = admin_api.delete(f"/api/v1/images/{image.pk}/")  # its task runs here (eager)
        op = Operation.objects.get(pk=deleted.json()["id"])
        assert deleted.status_code == 202 and op.status == "succeeded", op.error
        assert not Image.objects.filter(pk=image.pk).exists()
        hv.pool_refresh(host_b.uri, SHARED)
        listed = subprocess.run(
            ["virsh", "-c", host_b.uri, "vol-list", SHARED], check=True, capture_output=True, text=True
        ).stdout
        assert name not in listed, f"{name} outlived its image on {host_b.name}"
    finally:
        Host.objects.filter(pk=host_a.pk).update(state="up")
        try:
            hv.volume_delete(host_b.uri, SHARED, name)
        except hv.VolumeNotFound:
            pass
