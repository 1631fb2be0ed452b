"""Putting data into images: a streamed upload (raw body or multipart) and an import from an
allowed path, each an Operation; the format comes from the header magic, SHA-256 is computed
while streaming, and refused data leaves no file behind."""

import hashlib
import struct

import pytest

from compute.choices import ImageFormat, ImageState, Visibility
from compute.models import Image
from compute.services import images
from compute.tasks.images import CHUNK
from portal.models import Operation

GIB = 1024**3


def qcow2_bytes(virtual_gb=3, length=3 * 1024 * 1024):
    header = b"QFI\xfb" + struct.pack(">I", 3) + bytes(16) + struct.pack(">Q", virtual_gb * GIB)
    return header + bytes(length - len(header))


@pytest.fixture
def store(settings, tmp_path):
    settings.NUBES_IMAGE_STORE = str(tmp_path / "store")
    return tmp_path / "store"


@pytest.fixture
def queued_image(db, store):
    return Image.objects.create(
        name="ubuntu",
        volume="ubuntu.qcow2",
        format=ImageFormat.QCOW2,
        state=ImageState.QUEUED,
        visibility=Visibility.PUBLIC,
    )


def upload(client, image, data, content_type="application/octet-stream"):
    return client.post(f"/api/v1/images/{image.pk}/upload/", data, content_type=content_type)


def test_a_qcow2_upload_is_stored_with_its_checksum_and_virtual_size(api, queued_image, store):
    data = qcow2_bytes(virtual_gb=3)
    Image.objects.filter(pk=queued_image.pk).update(checksum_sha256=hashlib.sha256(data).hexdigest())
    response = upload(api["admin"], queued_image, data)
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert (op.kind, op.status, op.progress) == ("image.upload", "succeeded", 100)
    image = Image.objects.get(pk=queued_image.pk)
    assert (image.state, image.format, image.size_bytes) == (ImageState.ACTIVE, "qcow2", len(data))
    assert image.checksum_sha256 == hashlib.sha256(data).hexdigest()
    assert (image.virtual_size_gb, image.min_disk_gb) == (3, 3)
    assert (store / f"image-{image.pk}.qcow2").read_bytes() == data
    assert [p.name for p in store.iterdir()] == [f"image-{image.pk}.qcow2"]


def test_progress_is_reported_while_the_body_streams(api, queued_image, monkeypatch):
    seen = []
    real_progress = images.operations.progress
    monkeypatch.setattr(
        images.operations,
        "progress",
        lambda op, percent, message="": seen.append(percent) or real_progress(op, percent, message),
    )
    assert upload(api["admin"], queued_image, qcow2_bytes(length=8 * CHUNK)).status_code == 202
    assert len(seen) >= 3 and seen == sorted(seen) and seen[-1] < 100


def test_a_raw_image_is_recognised_when_no_other_magic_matches(api, store, db):
    image = Image.objects.create(name="disk", volume="disk.raw", format=ImageFormat.RAW, state=ImageState.QUEUED)
    data = b"\xeb\x63\x90" + bytes(2 * 1024 * 1024)  # a boot sector, then zeros
    assert upload(api["admin"], image, data).status_code == 202
    image.refresh_from_db()
    assert (image.state, image.format, image.virtual_size_gb) == (ImageState.ACTIVE, "raw", 1)


def test_a_multipart_upload_works_too(api, queued_image, store):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = qcow2_bytes(virtual_gb=2)
    response = api["admin"].post(
        f"/api/v1/images/{queued_image.pk}/upload/", {"file": SimpleUploadedFile("u.qcow2", data)}, format="multipart"
    )
    assert response.status_code == 202, response.content
    assert Image.objects.get(pk=queued_image.pk).virtual_size_gb == 2


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"NOTQCOW!" + bytes(4096), "Not a qcow2 image"),
        (b"QFI\xfb" + bytes(8), "truncated"),
        (b"", "empty"),
    ],
)
def test_a_corrupt_qcow2_fails_the_operation_and_leaves_nothing(api, queued_image, store, data, reason):
    response = upload(api["admin"], queued_image, data)
    assert response.status_code == 400
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "failed" and reason in op.error
    image = Image.objects.get(pk=queued_image.pk)
    assert image.state == ImageState.ERROR and reason in image.state_reason
    assert image.file_path == "" and list(store.iterdir()) == []


def test_a_vmdk_posing_as_raw_is_refused(api, store, db):
    image = Image.objects.create(name="disk", volume="disk.raw", format=ImageFormat.RAW, state=ImageState.QUEUED)
    response = upload(api["admin"], image, b"KDMV" + bytes(1024))
    assert response.status_code == 400 and "vmdk" in Operation.objects.get(pk=response.json()["id"]).error
    assert list(store.iterdir()) == []


def test_a_checksum_mismatch_fails_and_leaves_nothing(api, queued_image, store):
    Image.objects.filter(pk=queued_image.pk).update(checksum_sha256="0" * 64)
    response = upload(api["admin"], queued_image, qcow2_bytes())
    op = Operation.objects.get(pk=response.json()["id"])
    assert response.status_code == 400 and "Checksum mismatch" in op.error
    image = Image.objects.get(pk=queued_image.pk)
    assert image.state == ImageState.ERROR and image.checksum_sha256 == "0" * 64
    assert list(store.iterdir()) == []


def test_a_failed_image_may_be_uploaded_again(api, queued_image):
    assert upload(api["admin"], queued_image, b"junk" + bytes(600)).status_code == 400
    assert upload(api["admin"], queued_image, qcow2_bytes()).status_code == 202
    assert Image.objects.get(pk=queued_image.pk).state == ImageState.ACTIVE


def test_members_cannot_upload_and_active_images_refuse_new_data(api, queued_image):
    assert upload(api["alice"], queued_image, qcow2_bytes()).status_code == 403
    assert upload(api["admin"], queued_image, qcow2_bytes()).status_code == 202
    assert upload(api["admin"], queued_image, qcow2_bytes()).status_code == 409


@pytest.fixture
def roots(settings, tmp_path):
    root = tmp_path / "imports"
    root.mkdir()
    settings.NUBES_IMAGE_IMPORT_ROOTS = [str(root)]
    return root


def import_path(api, image, path, user="admin"):
    return api[user].post(f"/api/v1/images/{image.pk}/import/", {"path": str(path)}, format="json")


def test_a_staff_import_from_an_allowed_root_runs_as_an_operation(api, run_tasks, queued_image, roots, store):
    source = roots / "cirros.qcow2"
    source.write_bytes(qcow2_bytes(virtual_gb=1))
    with run_tasks():
        response = import_path(api, queued_image, source)
    assert response.status_code == 202
    op = Operation.objects.get(pk=response.json()["id"])
    assert (op.kind, op.status) == ("image.import", "succeeded"), op.error
    image = Image.objects.get(pk=queued_image.pk)
    assert image.state == ImageState.ACTIVE and image.checksum_sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert source.exists()  # an import copies


def test_an_import_of_a_corrupt_file_fails_the_operation(api, run_tasks, queued_image, roots, store):
    (roots / "bad.qcow2").write_bytes(b"garbage" * 100)
    with run_tasks():
        response = import_path(api, queued_image, roots / "bad.qcow2")
    assert Operation.objects.get(pk=response.json()["id"]).status == "failed"
    assert list(store.iterdir()) == []


def test_imports_outside_the_roots_are_refused_before_anything_starts(api, queued_image, roots, tmp_path):
    outside = tmp_path / "secret.qcow2"
    outside.write_bytes(qcow2_bytes())
    (roots / "link.qcow2").symlink_to(outside)
    for path in (outside, roots / ".." / "secret.qcow2", roots / "link.qcow2", roots / "missing.qcow2"):
        response = import_path(api, queued_image, path)
        assert response.status_code == 400 and "path" in response.json(), path
    assert import_path(api, queued_image, outside, user="alice").status_code == 403
    assert not Operation.objects.exists()


def test_imports_are_off_without_configured_roots(api, queued_image, settings, tmp_path, monkeypatch):
    settings.NUBES_IMAGE_IMPORT_ROOTS = None
    monkeypatch.delenv("NUBES_IMAGE_IMPORT_ROOTS", raising=False)
    response = import_path(api, queued_image, tmp_path / "x.qcow2")
    assert response.status_code == 400 and "NUBES_IMAGE_IMPORT_ROOTS" in response.json()["path"][0]
