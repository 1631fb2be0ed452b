"""The storage pages: volumes list and create, a volume's detail with its snapshot tree and
live-updated operation rows, the instance snapshot tree, pools for staff only."""

from django.test import Client

from storage.models import Volume
from tests.conftest import PASSWORD


def login(user):
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_a_member_creates_a_volume_from_the_page(alice, pool, run_tasks):
    client = login(alice)
    assert client.get("/storage/").status_code == 200
    with run_tasks():
        response = client.post(
            "/storage/", {"name": "web-data", "pool": pool.pk, "size_gb": 2, "format": "qcow2", "provisioning": "thin"}
        )
    assert response.status_code == 302
    assert Volume.objects.get(name="web-data").state == "available"


def test_the_detail_page_shows_the_snapshot_tree_and_operation_progress(alice, make_volume, run_tasks):
    volume = make_volume()
    client = login(alice)
    with run_tasks():
        client.post(f"/storage/volumes/{volume.pk}/snapshot/", {"name": "first"})
    with run_tasks():
        client.post(f"/storage/volumes/{volume.pk}/snapshot/", {"name": "second"})
    page = client.get(f"/storage/volumes/{volume.pk}/").content.decode()
    assert page.index("first") < page.index("second") and 'class="snapshot-tree"' in page
    assert "data-operation=" in page and 'data-field="progress"' in page


def test_a_refused_action_shows_its_reason(alice, make_volume):
    volume = make_volume(size_gb=5)
    response = login(alice).post(f"/storage/volumes/{volume.pk}/resize/", {"size_gb": 3}, follow=True)
    assert "only grows" in response.content.decode()


def test_outsiders_get_404_and_pools_are_staff_only(alice, charlie, admin_user, make_volume):
    volume = make_volume()
    assert login(charlie).get(f"/storage/volumes/{volume.pk}/").status_code == 404
    assert login(alice).get("/storage/pools/").status_code == 302
    assert "host-a-default" in login(admin_user).get("/storage/pools/").content.decode()


def test_the_instance_snapshot_page_takes_a_snapshot(alice, instance, run_tasks):
    client = login(alice)
    with run_tasks():
        client.post(f"/storage/instances/{instance.pk}/snapshots/", {"name": "before-upgrade"})
    page = client.get(f"/storage/instances/{instance.pk}/snapshots/").content.decode()
    assert "before-upgrade" in page and "current" in page
