"""alice (member of acme), bob (reader) and charlie (globex) against instances and key pairs;
cloud-wide resources are staff-write."""

import uuid

import pytest

from compute.choices import InstanceState
from compute.models import Image, Instance, KeyPair
from portal import quotas
from tests.compute.conftest import ED25519_KEY
from tests.matrix import PermissionMatrix


class TestInstances(PermissionMatrix):
    list_url = "/api/v1/instances/"
    change_payload = {"name": "renamed"}

    @pytest.fixture
    def obj(self, project_a, api, host_a, flavor, image):
        return Instance.objects.create(
            project=project_a,
            name="vm",
            flavor=flavor,
            image=image,
            host=host_a,
            vcpus=1,
            ram_mb=flavor.ram_mb,
            disk_gb=flavor.disk_gb,
            state=InstanceState.SHUTOFF,
        )

    def test_reader_cannot_run_actions(self, api, obj):
        for action in ("start", "stop", "reboot", "lock", "set-balloon"):
            assert api["bob"].post(f"{self.detail_url(obj)}{action}/", {}, format="json").status_code == 403
        refused = api["bob"].post(f"{self.detail_url(obj)}create-image/", {"name": "snap"}, format="json")
        assert refused.status_code == 403 and not Image.objects.filter(name="snap").exists()

    def test_outsider_cannot_run_actions(self, api, obj):
        assert api["charlie"].post(f"{self.detail_url(obj)}start/", {}, format="json").status_code == 404
        hidden = api["charlie"].post(f"{self.detail_url(obj)}create-image/", {"name": "snap"}, format="json")
        assert hidden.status_code == 404 and not Image.objects.filter(name="snap").exists()


class TestProjectImages(PermissionMatrix):
    """An image a project made from an instance: its members and readers see it, others do not."""

    list_url = "/api/v1/images/"

    def make(self, project):
        return Image.objects.create(
            name="snap", volume="snap.qcow2", visibility="project", project=project, instance_uuid=uuid.uuid4()
        )

    def test_member_cannot_patch_it(self, api, obj):
        """Images are the cloud admins' to change; members only delete their project's."""
        assert api["alice"].patch(self.detail_url(obj), {"name": "renamed"}, format="json").status_code == 403

    def test_member_deletes_it_and_gets_the_quota_back(self, api, obj, run_tasks):
        quotas.set_usage(obj.project, "images", 1)
        with run_tasks():
            assert api["alice"].delete(self.detail_url(obj)).status_code == 202
        assert not Image.objects.filter(pk=obj.pk).exists()
        assert quotas.usage(obj.project)["images"]["in_use"] == 0

    def test_a_public_image_stays_the_cloud_admins(self, api, image):
        assert api["alice"].delete(self.detail_url(image)).status_code == 403


class TestKeyPairs(PermissionMatrix):
    list_url = "/api/v1/keypairs/"
    change_payload = {"name": "renamed"}

    def make(self, project):
        return KeyPair.objects.create(project=project, name="k", public_key=ED25519_KEY, fingerprint="SHA256:x")


@pytest.mark.parametrize("url", ["/api/v1/clusters/", "/api/v1/hosts/", "/api/v1/flavors/", "/api/v1/images/"])
def test_tenants_read_but_cannot_write_cloud_resources(api, url):
    assert api["alice"].get(url).status_code == 200
    assert api["alice"].post(url, {"name": "x"}, format="json").status_code == 403


def test_credentials_paths_are_never_shown(api, host_a):
    host_a.credentials_path = "/etc/nubes/keys/host-a"
    host_a.save()
    body = api["admin"].get(f"/api/v1/hosts/{host_a.pk}/").json()
    assert "credentials_path" not in body and "/etc/nubes" not in str(body)


def test_project_flavors_are_hidden_from_other_tenants(api, project_a):
    from compute.models import Flavor

    private = Flavor.objects.create(
        name="acme.special", vcpus=1, ram_mb=512, disk_gb=1, visibility="project", project=project_a
    )
    assert api["alice"].get(f"/api/v1/flavors/{private.pk}/").status_code == 200
    assert api["charlie"].get(f"/api/v1/flavors/{private.pk}/").status_code == 404
