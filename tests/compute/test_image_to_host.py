"""An uploaded image reaches a real host's pool on first use: _ensure_image streams the file from
the portal's image store (hv.volume_upload) with progress on the create Operation. The real
upload runs against the local libvirtd (qemu:///system) into a temporary dir pool."""

import hashlib
import os
import uuid

import pytest

import hypervisor as hv
from compute.models import Host, Image
from compute.tasks import instances as tasks
from portal import operations
from portal.errors import ActionError
from portal.models import Operation
from tests.hypervisor.conftest import REAL_URI, real_host  # noqa: F401  (skips without a libvirtd)

MIB = 1024 * 1024


def test_a_real_host_without_the_volume_or_stored_data_is_told_why(cluster, monkeypatch):
    host = Host.objects.create(name="far", uri="qemu+ssh://root@far/system", cluster=cluster)
    image = Image.objects.create(name="noimg", volume="noimg.qcow2")

    def missing(*args):
        raise hv.VolumeNotFound("no such volume")

    monkeypatch.setattr(hv, "volume_info", missing)
    with pytest.raises(ActionError, match="no data in the image store"):
        tasks._ensure_image(host, image)


def test_a_real_host_gets_the_stored_file_uploaded(cluster, tmp_path, monkeypatch):
    host = Host.objects.create(name="far", uri="qemu+ssh://root@far/system", cluster=cluster)
    stored = tmp_path / "image-1.raw"
    stored.write_bytes(b"x" * 10)
    image = Image.objects.create(name="img", volume="img.raw", format="raw", file_path=str(stored))
    calls = []

    def missing(*args):
        raise hv.VolumeNotFound("no such volume")

    def upload(*args, **kwargs):
        calls.append((args, kwargs))
        return hv.UploadResult(volume="vol", bytes_sent=10, simulated=False)

    monkeypatch.setattr(hv, "volume_info", missing)
    monkeypatch.setattr(hv, "volume_upload", upload)
    assert tasks._ensure_image(host, image) == "vol"
    assert calls[0][0] == (host.uri, "default", "img.raw", str(stored)) and calls[0][1]["fmt"] == "raw"


@pytest.fixture
def real_host_pool(real_host, cluster, tmp_path):
    pool = f"nubes-test-img-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "pool"
    path.mkdir()
    hv.pool_define_dir(REAL_URI, pool, str(path))
    hv.pool_start(REAL_URI, pool, autostart=False)
    yield Host.objects.create(name="local", uri=REAL_URI, cluster=cluster), pool, path
    hv.pool_delete(REAL_URI, pool)


@pytest.mark.integration
def test_first_use_on_a_real_host_copies_the_stored_image_into_its_pool(real_host_pool, tmp_path, admin_user):
    host, pool, path = real_host_pool
    data = os.urandom(3 * MIB + 7)
    stored = tmp_path / "store" / "image-9.raw"
    stored.parent.mkdir()
    stored.write_bytes(data)
    image = Image.objects.create(name="blob", volume="blob.raw", pool=pool, format="raw", file_path=str(stored))
    op = operations.begin("instance.create", image, user=admin_user)
    volume = tasks._ensure_image(host, image, op)
    assert volume.path == str(path / "blob.raw")
    assert hashlib.sha256((path / "blob.raw").read_bytes()).digest() == hashlib.sha256(data).digest()
    assert "Copying image blob" in Operation.objects.get(pk=op.pk).message
    # The second use finds it there and copies nothing.
    assert tasks._ensure_image(host, image).path == volume.path
