"""The permission matrix every tenant resource must pass, as a base class.

A subclass names the list URL and says how to make an object in a project; the tests check
that alice (member of A) reads and changes, bob (reader of A) reads but gets 403 on change,
charlie (member of B only) gets 404 and never sees A's object in lists, anonymous gets 401/403."""

import pytest

UNAUTHENTICATED = (401, 403)


class PermissionMatrix:
    list_url = ""
    change_payload = None  # dict for PATCH; None when the resource has no updatable field
    deletable = True

    def __init_subclass__(cls, **kwargs):
        """Which member test a resource gets follows its change_payload, so no case is generated
        only to be skipped: with one, alice's PATCH succeeds; without, the API has no PATCH."""
        super().__init_subclass__(**kwargs)
        if cls.change_payload is not None:
            if "test_member_can_change_it" not in vars(cls):
                cls.test_member_can_change_it = _member_can_change_it
        elif "test_member_cannot_patch_it" not in vars(cls):
            cls.test_member_cannot_patch_it = _member_cannot_patch_it

    def make(self, project):
        raise NotImplementedError

    def detail_url(self, obj):
        return f"{self.list_url}{obj.pk}/"

    @pytest.fixture
    def obj(self, project_a, api):
        return self.make(project_a)

    def ids(self, response):
        body = response.json()
        rows = body["results"] if isinstance(body, dict) and "results" in body else body
        return {str(row["id"]) for row in rows}

    def test_anonymous_is_refused(self, api, obj):
        assert api["anon"].get(self.list_url).status_code in UNAUTHENTICATED
        assert api["anon"].get(self.detail_url(obj)).status_code in UNAUTHENTICATED

    def test_member_sees_it(self, api, obj):
        assert str(obj.pk) in self.ids(api["alice"].get(self.list_url))
        assert api["alice"].get(self.detail_url(obj)).status_code == 200

    def test_reader_sees_it(self, api, obj):
        assert str(obj.pk) in self.ids(api["bob"].get(self.list_url))
        assert api["bob"].get(self.detail_url(obj)).status_code == 200

    def test_outsider_does_not_see_it(self, api, obj):
        assert str(obj.pk) not in self.ids(api["charlie"].get(self.list_url))
        assert api["charlie"].get(self.detail_url(obj)).status_code == 404

    def test_outsider_cannot_change_or_delete_it(self, api, obj):
        if self.change_payload is not None:
            assert api["charlie"].patch(self.detail_url(obj), self.change_payload, format="json").status_code == 404
        assert api["charlie"].delete(self.detail_url(obj)).status_code in (404, 405)
        assert type(obj).objects.filter(pk=obj.pk).exists()

    def test_reader_cannot_change_or_delete_it(self, api, obj):
        if self.change_payload is not None:
            assert api["bob"].patch(self.detail_url(obj), self.change_payload, format="json").status_code == 403
        assert api["bob"].delete(self.detail_url(obj)).status_code in (403, 405)
        assert type(obj).objects.filter(pk=obj.pk).exists()

    def test_cloud_admin_sees_it(self, api, obj):
        assert api["admin"].get(self.detail_url(obj)).status_code == 200


def _member_can_change_it(self, api, obj):
    assert api["alice"].patch(self.detail_url(obj), self.change_payload, format="json").status_code == 200


def _member_cannot_patch_it(self, api, obj):
    """No field a member may PATCH: the API offers no PATCH at all, even to a member."""
    assert api["alice"].patch(self.detail_url(obj), {"name": "renamed"}, format="json").status_code == 405
