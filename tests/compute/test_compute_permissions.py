"""alice (member of acme), bob (reader) and charlie (globex) against instances and key pairs;
cloud-wide resources are staff-write."""

import pytest

from compute.choices import InstanceState
from compute.models import Instance, KeyPair
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

    def test_outsider_cannot_run_actions(self, api, obj):
        assert api["charlie"].post(f"{self.detail_url(obj)}start/", {}, format="json").status_code == 404


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
