"""The storage REST API: permission matrix for volumes and snapshots, pools for staff only,
202 answers with Operations, and bad input refused with nothing changed."""

import pytest

from portal.models import Operation
from storage.choices import VolumeState
from storage.models import Snapshot, StoragePool, Volume
from tests.matrix import PermissionMatrix
from tests.storage.conftest import reload


def row_volume(project, pool, name="vol"):
    return Volume.objects.create(
        project=project,
        pool=pool,
        name=name,
        size_gb=1,
        state=VolumeState.AVAILABLE,
        libvirt_name=f"nubes-vol-{name}",
        path=f"/var/lib/libvirt/images/{name}",
    )


class TestVolumeMatrix(PermissionMatrix):
    list_url = "/api/v1/volumes/"
    change_payload = {"description": "renamed"}

    @pytest.fixture(autouse=True)
    def _pool(self, pool):
        self.pool = pool

    def make(self, project):
        return row_volume(project, self.pool)

    def test_reader_cannot_act_on_it(self, api, obj):
        assert api["bob"].post(f"{self.detail_url(obj)}resize/", {"size_gb": 9}, format="json").status_code == 403
        assert reload(obj).size_gb == 1

    def test_outsider_cannot_act_on_it(self, api, obj):
        assert api["charlie"].post(f"{self.detail_url(obj)}resize/", {"size_gb": 9}, format="json").status_code == 404


class TestSnapshotMatrix(PermissionMatrix):
    list_url = "/api/v1/snapshots/"
    change_payload = {"description": "noted"}

    @pytest.fixture(autouse=True)
    def _pool(self, pool):
        self.pool = pool

    def make(self, project):
        volume = row_volume(project, self.pool, name=f"v{project.pk}")
        return Snapshot.objects.create(
            project=project, volume=volume, name="s1", kind="external", state="available", layer_path=volume.path
        )

    def test_reader_cannot_revert_it(self, api, obj):
        assert api["bob"].post(f"{self.detail_url(obj)}revert/").status_code == 403


def test_only_cloud_admins_define_pools(api, host, run_tasks):
    payload = {"name": "p2", "libvirt_name": "p2", "type": "dir", "hosts": [host.pk], "target_path": "/srv/p2"}
    assert api["alice"].post("/api/v1/storage-pools/", payload, format="json").status_code == 403
    with run_tasks():
        response = api["admin"].post("/api/v1/storage-pools/", payload, format="json")
    assert response.status_code == 202
    assert StoragePool.objects.get(name="p2").state == "active"
    assert api["alice"].get("/api/v1/storage-pools/").status_code == 200


def test_a_pool_path_outside_the_allowed_roots_is_refused(api, host):
    payload = {"name": "evil", "libvirt_name": "evil", "type": "dir", "hosts": [host.pk], "target_path": "/etc"}
    response = api["admin"].post("/api/v1/storage-pools/", payload, format="json")
    assert response.status_code == 400 and "target_path" in response.json()
    payload["target_path"] = "/srv/../etc"
    assert api["admin"].post("/api/v1/storage-pools/", payload, format="json").status_code == 400
    assert not StoragePool.objects.filter(name="evil").exists()


def test_create_answers_202_with_the_operation(api, project_a, pool, run_tasks):
    with run_tasks():
        response = api["alice"].post("/api/v1/volumes/", {"name": "data", "pool": pool.pk, "size_gb": 2}, format="json")
    assert response.status_code == 202
    assert Operation.objects.get(pk=response.json()["id"]).status == "succeeded"
    assert Volume.objects.get(name="data").state == "available"


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"name": "neg", "size_gb": -1}, "size_gb"),
        ({"name": "zero", "size_gb": 0}, "size_gb"),
        ({"name": "a/b", "size_gb": 1}, "name"),
        ({"name": "..", "size_gb": 1}, "name"),
        ({"name": "x..y", "size_gb": 1}, "name"),
        ({"name": "ok", "size_gb": 1, "color": "red"}, "color"),
        ({"name": "ok", "size_gb": "big"}, "size_gb"),
    ],
)
def test_bad_volume_input_is_refused_and_nothing_is_created(api, pool, payload, field):
    response = api["alice"].post("/api/v1/volumes/", {"pool": pool.pk, **payload}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Volume.objects.exists() and not Operation.objects.filter(kind__startswith="volume").exists()


def test_resize_smaller_is_refused(api, make_volume):
    volume = make_volume(size_gb=5)
    response = api["alice"].post(f"/api/v1/volumes/{volume.pk}/resize/", {"size_gb": 3}, format="json")
    assert response.status_code == 400 and "size_gb" in response.json()
    assert reload(volume).size_gb == 5


def test_deleting_a_volume_with_linked_clones_is_refused(api, make_volume, run_tasks):
    base = make_volume(name="golden")
    assert api["alice"].patch(f"/api/v1/volumes/{base.pk}/", {"is_template": True}, format="json").status_code == 200
    with run_tasks():
        response = api["alice"].post(
            f"/api/v1/volumes/{base.pk}/clone/", {"name": "c1", "mode": "linked"}, format="json"
        )
    assert response.status_code == 202
    response = api["alice"].delete(f"/api/v1/volumes/{base.pk}/")
    assert response.status_code == 409 and "linked clones" in response.json()["detail"]
    assert reload(base).state == "available"


def test_attaching_to_another_tenants_instance_is_a_400(api, make_volume, project_b, host, flavor, image):
    from tests.storage.conftest import make_instance

    theirs = make_instance(project_b, host, flavor, image, name="theirs")
    volume = make_volume()
    response = api["alice"].post(f"/api/v1/volumes/{volume.pk}/attach/", {"instance": theirs.pk}, format="json")
    assert response.status_code == 400 and "instance" in response.json()
    assert reload(volume).state == "available"


def test_attach_and_snapshot_through_the_api(api, make_volume, instance, run_tasks):
    volume = make_volume()
    with run_tasks():
        response = api["alice"].post(f"/api/v1/volumes/{volume.pk}/attach/", {"instance": instance.pk}, format="json")
    assert response.status_code == 202 and reload(volume).state == "in-use"
    with run_tasks():
        response = api["alice"].post(f"/api/v1/volumes/{volume.pk}/snapshot/", {"name": "before"}, format="json")
    assert response.status_code == 202
    rows = api["alice"].get(f"/api/v1/snapshots/?volume={volume.pk}").json()["results"]
    assert [(r["name"], r["current"], r["kind"]) for r in rows] == [("before", True, "external")]
    snapshot = rows[0]["id"]
    with run_tasks():
        response = api["alice"].delete(f"/api/v1/snapshots/{snapshot}/")
    assert response.status_code == 202
    assert not Snapshot.objects.filter(pk=snapshot).exists()
