"""Cloud-admin pages: images are created, uploaded and imported through forms that show their
errors, the work is an Operation the page follows (data-operation rows subscribed to its group);
host PCI devices are registered and assigned with the model's rules."""

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from compute.models import HostDevice, Image, Instance
from portal.models import Operation

QCOW2_HEADER = b"QFI\xfb" + bytes(20) + (1024**3).to_bytes(8, "big") + bytes(4096)


@pytest.fixture
def staff(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def store(settings, tmp_path):
    settings.NUBES_IMAGE_STORE = str(tmp_path / "store")
    return tmp_path / "store"


@pytest.fixture
def queued(db):
    return Image.objects.create(name="debian", volume="debian.qcow2", state="queued")


def test_a_new_image_form_shows_the_models_errors(staff):
    response = staff.post(
        "/compute/images/new/",
        {
            "name": "x",
            "format": "qcow2",
            "visibility": "project",
            "os_type": "linux",
            "min_disk_gb": 0,
            "min_ram_mb": 0,
            "checksum_sha256": "nothex",
            "pool": "default",
            "volume": "x.qcow2",
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-error-for="checksum_sha256"' in page and 'data-error-for="project"' in page
    assert not Image.objects.exists()


def test_staff_create_an_image_that_waits_for_data(staff):
    response = staff.post(
        "/compute/images/new/",
        {
            "name": "alpine",
            "format": "qcow2",
            "visibility": "public",
            "os_type": "linux",
            "min_disk_gb": 1,
            "min_ram_mb": 128,
            "pool": "default",
            "volume": "alpine.qcow2",
        },
    )
    image = Image.objects.get(name="alpine")
    assert response.status_code == 302 and response.url == f"/compute/images/{image.pk}/"
    assert image.state == "queued"


def test_an_upload_through_the_form_is_stored_in_its_request_and_shown_on_the_page(staff, store, queued):
    response = staff.post(
        f"/compute/images/{queued.pk}/upload/", {"file": SimpleUploadedFile("debian.qcow2", QCOW2_HEADER)}
    )
    assert response.status_code == 302
    queued.refresh_from_db()
    assert queued.state == "active" and queued.checksum_sha256 == hashlib.sha256(QCOW2_HEADER).hexdigest()
    op = Operation.objects.get(kind="image.upload")
    assert op.status == "succeeded" and op.progress == 100
    assert sorted(p.name for p in store.iterdir()) == [f"image-{queued.pk}.qcow2"]  # no spool file, no task
    page = staff.get(response.url).content.decode()
    assert f'data-operation="{op.pk}"' in page and f'data-subscribe="operation.{op.pk}"' in page


def test_a_bad_upload_is_the_forms_error_and_leaves_nothing(staff, store, queued):
    response = staff.post(f"/compute/images/{queued.pk}/upload/", {"file": SimpleUploadedFile("x.qcow2", b"\0" * 4096)})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-error-for="file"' in page and "Not a qcow2 image" in page
    queued.refresh_from_db()
    op = Operation.objects.get(kind="image.upload")
    assert queued.state == "error" and op.status == "failed" and "Not a qcow2 image" in op.error
    assert not list(store.iterdir())  # no part file


def test_an_empty_file_is_the_forms_error_before_anything_starts(staff, store, queued):
    response = staff.post(f"/compute/images/{queued.pk}/upload/", {"file": SimpleUploadedFile("x.qcow2", b"")})
    assert response.status_code == 400 and "The submitted file is empty." in response.content.decode()
    assert not Operation.objects.exists() and Image.objects.get(pk=queued.pk).state == "queued"


def test_a_field_after_the_file_fails_the_upload_before_it_is_kept(staff, store, queued):
    """The file's size is what the body leaves after it, so it must come last (as the page sends it)."""
    response = staff.post(
        f"/compute/images/{queued.pk}/upload/",
        {"file": SimpleUploadedFile("debian.qcow2", QCOW2_HEADER), "zzz": "after the file"},
    )
    assert response.status_code == 400 and "the file must be the form&#x27;s last field" in response.content.decode()
    assert Image.objects.get(pk=queued.pk).state == "error" and not list(store.iterdir())


def test_the_upload_form_checks_its_csrf_token_itself(admin_user, store, queued):
    """The view reads its form as it arrives, so Django's middleware leaves it alone: the check is
    the middleware's own, run on the fields before the file."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    page = browser.get(f"/compute/images/{queued.pk}/")
    token = page.context["csrf_token"]
    upload = f"/compute/images/{queued.pk}/upload/"
    refused = browser.post(upload, {"file": SimpleUploadedFile("debian.qcow2", QCOW2_HEADER)})
    assert refused.status_code == 403 and not Operation.objects.exists()
    accepted = browser.post(
        upload, {"csrfmiddlewaretoken": token, "file": SimpleUploadedFile("debian.qcow2", QCOW2_HEADER)}
    )
    assert accepted.status_code == 302 and Image.objects.get(pk=queued.pk).state == "active"


def test_the_upload_and_import_forms_show_errors(staff, store, queued, settings, tmp_path):
    response = staff.post(f"/compute/images/{queued.pk}/upload/", {})
    assert response.status_code == 400 and 'data-error-for="file"' in response.content.decode()
    settings.NUBES_IMAGE_IMPORT_ROOTS = [str(tmp_path / "allowed")]
    response = staff.post(f"/compute/images/{queued.pk}/import/", {"path": "/etc/passwd"})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-error-for="path"' in page and "outside the import roots" in page
    assert not Operation.objects.exists()


def test_an_import_through_the_form_queues_an_operation(staff, run_tasks, store, queued, settings, tmp_path):
    root = tmp_path / "allowed"
    root.mkdir()
    (root / "debian.qcow2").write_bytes(QCOW2_HEADER)
    settings.NUBES_IMAGE_IMPORT_ROOTS = [str(root)]
    with run_tasks():
        response = staff.post(f"/compute/images/{queued.pk}/import/", {"path": str(root / "debian.qcow2")})
    assert response.status_code == 302
    queued.refresh_from_db()
    assert queued.state == "active" and Operation.objects.get(kind="image.import").status == "succeeded"


def test_members_do_not_reach_the_admin_pages(client, alice, queued, host_a):
    client.force_login(alice)
    for url in ("/compute/images/new/", f"/compute/images/{queued.pk}/", f"/compute/hosts/{host_a.pk}/devices/"):
        assert client.get(url).status_code == 302  # to the admin login


def test_a_device_form_rejects_a_bad_pci_address_and_registers_a_good_one(staff, host_a):
    response = staff.post(f"/compute/hosts/{host_a.pk}/devices/", {"pci_address": "3:10.1", "kind": "pci"})
    assert response.status_code == 400 and 'data-error-for="pci_address"' in response.content.decode()
    response = staff.post(
        f"/compute/hosts/{host_a.pk}/devices/",
        {"pci_address": "0000:03:10.1", "kind": "sriov-vf", "description": "X710 VF"},
    )
    assert response.status_code == 302
    assert HostDevice.objects.get().host == host_a
    assert "passthrough" in staff.get(response.url).content.decode().lower()


def test_a_device_is_assigned_only_to_an_instance_on_its_host(staff, hosts, project_a, flavor, image):
    device = HostDevice.objects.create(host=hosts[0], pci_address="0000:81:00.0")
    here = Instance.objects.create(
        project=project_a, name="here", flavor=flavor, image=image, host=hosts[0], vcpus=1, ram_mb=2048, disk_gb=20
    )
    there = Instance.objects.create(
        project=project_a, name="there", flavor=flavor, image=image, host=hosts[1], vcpus=1, ram_mb=2048, disk_gb=20
    )
    staff.post(f"/compute/devices/{device.pk}/assign/", {f"d{device.pk}-instance": there.pk})
    device.refresh_from_db()
    assert device.instance is None
    staff.post(f"/compute/devices/{device.pk}/assign/", {f"d{device.pk}-instance": here.pk})
    device.refresh_from_db()
    assert device.instance == here
