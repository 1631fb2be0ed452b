"""Deleting a project that owns resources is refused with what it owns, per kind, in the API
and the Django admin; only cloud admins purge."""

import pytest

from compute.models import KeyPair
from portal.choices import Role
from portal.models import Membership, Operation, Project
from scheduler.models import ServerGroup
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGp4T9wZ8e0n7dW3v0yQm6b1H2d8J2x4Q3k7cJ9g5Vtl alice@laptop"


@pytest.fixture
def owning(project_a):
    for name in ("laptop", "desk"):
        KeyPair.objects.create(project=project_a, name=name, public_key=KEY)
    ServerGroup.objects.create(project=project_a, name="web", policy="anti-affinity")
    return project_a


def test_the_api_refuses_with_counts_per_kind(api, owning):
    response = api["admin"].delete(f"/api/v1/projects/{owning.pk}/")
    assert response.status_code == 409
    assert response.json()["owned"] == {"key pairs": 2, "server groups": 1}
    assert "2 key pairs, 1 server groups" in response.json()["detail"]
    assert Project.objects.filter(pk=owning.pk).exists()


def test_an_empty_project_is_deleted(api, project_b):
    assert api["admin"].delete(f"/api/v1/projects/{project_b.pk}/").status_code == 204
    assert not Project.objects.filter(pk=project_b.pk).exists()


def test_only_cloud_admins_purge(api, alice, owning):
    Membership.objects.filter(user=alice).update(role=Role.ADMIN)  # a tenant admin
    assert api["alice"].post(f"/api/v1/projects/{owning.pk}/purge/").status_code == 403
    assert api["bob"].post(f"/api/v1/projects/{owning.pk}/purge/").status_code == 403
    assert api["charlie"].post(f"/api/v1/projects/{owning.pk}/purge/").status_code == 404
    assert not Operation.objects.filter(kind="project.purge").exists()


def test_a_purge_of_records_deletes_them_and_the_project(api, owning, run_tasks):
    with run_tasks():
        response = api["admin"].post(f"/api/v1/projects/{owning.pk}/purge/")
    assert response.status_code == 202
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded", op.error
    assert op.project_id is None and op.detail["owned"] == {"key pairs": 2, "server groups": 1}
    assert not Project.objects.filter(pk=owning.pk).exists()
    assert not KeyPair.objects.exists() and not ServerGroup.objects.exists()


def test_the_admin_delete_page_lists_what_the_project_owns(admin_user, owning):
    client = client_for(None)
    client.force_login(admin_user)
    url = f"/admin/portal/project/{owning.pk}/delete/"
    page = client.get(url).content.decode()
    assert "acme: 2 key pairs, 1 server groups" in page and "Purge" in page
    client.post(url, {"post": "yes"})
    assert Project.objects.filter(pk=owning.pk).exists()


def test_the_admin_deletes_an_empty_project(admin_user, project_b):
    client = client_for(None)
    client.force_login(admin_user)
    client.post(f"/admin/portal/project/{project_b.pk}/delete/", {"post": "yes"})
    assert not Project.objects.filter(pk=project_b.pk).exists()


def test_the_admin_purge_action_starts_an_operation(admin_user, owning, run_tasks):
    client = client_for(None)
    client.force_login(admin_user)
    with run_tasks():
        response = client.post(
            "/admin/portal/project/", {"action": "purge", "_selected_action": [owning.pk]}, follow=True
        )
    assert "purge started" in response.content.decode()
    assert Operation.objects.get(kind="project.purge").status == "succeeded"
    assert not Project.objects.filter(pk=owning.pk).exists()
