"""A dir pool made through the API on lab host B (qemu+tcp) whose directory did not exist: the
portal builds it there (libvirt's mkdir), and deleting the pool removes it again over libvirt
(virStoragePoolDelete between stop and undefine). A directory that was there stays. The lab's
hosts share this file system, so the test reads the directory here; Nubes does not."""

import os
import shutil
import uuid

import pytest

from portal.models import Operation
from storage.models import StoragePool
from tests.integration.conftest import virsh

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = "/var/lib/nubes-lab"


def make_and_delete(admin_api, host_b, directory):
    name = f"nubes-it-dir-{uuid.uuid4().hex[:6]}"
    payload = {"name": name, "libvirt_name": name, "type": "dir", "target_path": directory, "hosts": [host_b.pk]}
    made = admin_api.post("/api/v1/storage-pools/", payload, format="json")
    assert made.status_code == 202, made.content
    op = Operation.objects.get(pk=made.json()["id"])
    assert op.status == "succeeded", op.error
    pool = StoragePool.objects.get(name=name)
    assert os.path.isdir(directory)
    built = pool.built_on == [host_b.pk]
    removal = admin_api.delete(f"/api/v1/storage-pools/{pool.pk}/")
    assert Operation.objects.get(pk=removal.json()["id"]).status == "succeeded"
    assert name not in virsh(host_b.uri, "pool-list", "--all", "--name").split()
    return built


def test_the_directory_the_portal_built_on_host_b_goes_with_the_pool(admin_api, host_b):
    directory = f"{ROOT}/it-dir-{uuid.uuid4().hex[:6]}"
    try:
        assert make_and_delete(admin_api, host_b, directory)
        assert not os.path.exists(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_a_directory_that_was_there_stays(admin_api, host_b):
    directory = f"{ROOT}/it-dir-{uuid.uuid4().hex[:6]}"
    os.mkdir(directory)
    try:
        assert not make_and_delete(admin_api, host_b, directory)
        assert os.path.isdir(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
