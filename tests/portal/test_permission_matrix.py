"""The permission matrix for the platform's own project-owned resources."""

from portal import operations
from portal.audit import record
from portal.models import Operation
from tests.matrix import PermissionMatrix


class TestOperations(PermissionMatrix):
    list_url = "/api/v1/operations/"

    def make(self, project):
        return operations.begin_untargeted("test.kind", name="thing", project=project)

    def test_member_can_change_it(self, api, obj):
        # Operations are read-only except for cancel, which a member may do on a cancellable one.
        Operation.objects.filter(pk=obj.pk).update(cancellable=True)
        assert api["alice"].post(f"{self.detail_url(obj)}cancel/").status_code == 200
        assert Operation.objects.get(pk=obj.pk).status == "cancelled"

    def test_reader_cannot_cancel(self, api, obj):
        Operation.objects.filter(pk=obj.pk).update(cancellable=True)
        assert api["bob"].post(f"{self.detail_url(obj)}cancel/").status_code == 403
        assert Operation.objects.get(pk=obj.pk).status == "queued"

    def test_outsider_cannot_cancel(self, api, obj):
        Operation.objects.filter(pk=obj.pk).update(cancellable=True)
        assert api["charlie"].post(f"{self.detail_url(obj)}cancel/").status_code == 404


class TestQuotas:
    def test_member_sees_own_project_quotas_only(self, api, project_a, project_b):
        rows = api["alice"].get("/api/v1/quotas/?page_size=100").json()["results"]
        assert rows and {row["project"] for row in rows} == {project_a.pk}

    def test_outsider_gets_404_on_another_projects_quota(self, api, project_a):
        quota = project_a.quotas.first()
        assert api["charlie"].get(f"/api/v1/quotas/{quota.pk}/").status_code == 404

    def test_only_cloud_admin_changes_a_limit(self, api, project_a):
        quota = project_a.quotas.get(resource="instances")
        assert api["alice"].patch(f"/api/v1/quotas/{quota.pk}/", {"limit": 99}, format="json").status_code == 403
        assert api["admin"].patch(f"/api/v1/quotas/{quota.pk}/", {"limit": 99}, format="json").status_code == 200
        quota.refresh_from_db()
        assert quota.limit == 99


class TestProjects:
    def test_users_see_only_their_projects(self, api, project_a, project_b):
        names = {row["name"] for row in api["charlie"].get("/api/v1/projects/").json()["results"]}
        assert names == {"globex"}

    def test_outsider_gets_404(self, api, project_a):
        assert api["charlie"].get(f"/api/v1/projects/{project_a.pk}/").status_code == 404

    def test_member_cannot_rename_project(self, api, project_a):
        response = api["alice"].patch(f"/api/v1/projects/{project_a.pk}/", {"name": "x"}, format="json")
        assert response.status_code == 403

    def test_only_cloud_admin_creates_projects(self, api):
        assert api["alice"].post("/api/v1/projects/", {"name": "new"}, format="json").status_code == 403
        response = api["admin"].post("/api/v1/projects/", {"name": "new"}, format="json")
        assert response.status_code == 201
        assert response.json()["name"] == "new"


class TestMemberships:
    def test_member_cannot_add_members(self, api, project_a, charlie):
        payload = {"project": project_a.pk, "user": "charlie", "role": "member"}
        response = api["alice"].post("/api/v1/memberships/", payload, format="json")
        assert response.status_code == 400
        assert "project" in response.json()

    def test_outsider_cannot_add_himself(self, api, project_a):
        payload = {"project": project_a.pk, "user": "charlie", "role": "admin"}
        response = api["charlie"].post("/api/v1/memberships/", payload, format="json")
        assert response.status_code == 400
        assert response.json()["project"] == ["Invalid pk - object does not exist."]

    def test_outsider_sees_no_memberships_of_other_projects(self, api, project_a):
        rows = api["charlie"].get("/api/v1/memberships/").json()["results"]
        assert project_a.pk not in {row["project"] for row in rows}


class TestAuditEvents:
    def test_only_project_admins_and_staff_read_audit(self, api, project_a, alice):
        event = record(alice, "test.action", project_a)
        assert api["alice"].get(f"/api/v1/audit-events/{event.pk}/").status_code == 404
        assert api["charlie"].get(f"/api/v1/audit-events/{event.pk}/").status_code == 404
        assert api["admin"].get(f"/api/v1/audit-events/{event.pk}/").status_code == 200

    def test_audit_is_read_only(self, api, project_a, alice):
        event = record(alice, "test.action", project_a)
        assert api["admin"].delete(f"/api/v1/audit-events/{event.pk}/").status_code == 405
