from datetime import timedelta

from django.utils import timezone
from rest_framework.test import APIClient

from portal.models import ApiToken, AuditEvent


def bearer(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_new_token_is_shown_once_and_stored_hashed(api):
    response = api["alice"].post("/api/v1/tokens/", {"name": "ci"}, format="json")
    assert response.status_code == 201
    plain = response.json()["token"]
    row = ApiToken.objects.get(pk=response.json()["id"])
    assert plain not in (row.secret_hash, row.key_id)
    assert plain.split("_", 2)[2] not in row.secret_hash
    assert "token" not in api["alice"].get(f"/api/v1/tokens/{row.pk}/").json()


def test_a_token_authenticates_its_user(api):
    plain = api["alice"].post("/api/v1/tokens/", {"name": "ci"}, format="json").json()["token"]
    response = bearer(plain).get("/api/v1/projects/")
    assert response.status_code == 200
    assert [row["name"] for row in response.json()["results"]] == ["acme"]


def test_a_revoked_token_is_refused(api):
    body = api["alice"].post("/api/v1/tokens/", {"name": "ci"}, format="json").json()
    assert api["alice"].delete(f"/api/v1/tokens/{body['id']}/").status_code == 204
    assert bearer(body["token"]).get("/api/v1/projects/").status_code == 401
    assert AuditEvent.objects.filter(action="token.revoke").exists()


def test_an_expired_token_is_refused(alice):
    token, plain = ApiToken.issue(alice, "old", expires=timezone.now() - timedelta(seconds=1))
    response = bearer(plain).get("/api/v1/projects/")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_a_forged_secret_is_refused(alice):
    token, plain = ApiToken.issue(alice, "t")
    forged = plain[:-4] + ("AAAA" if not plain.endswith("AAAA") else "BBBB")
    assert bearer(forged).get("/api/v1/projects/").status_code == 401


def test_a_malformed_token_is_refused(db):
    assert bearer("not-a-token").get("/api/v1/projects/").status_code == 401


def test_users_never_see_each_others_tokens(api, alice):
    token, _ = ApiToken.issue(alice, "mine")
    assert api["charlie"].get(f"/api/v1/tokens/{token.pk}/").status_code == 404
    assert api["charlie"].delete(f"/api/v1/tokens/{token.pk}/").status_code == 404
    assert ApiToken.objects.get(pk=token.pk).revoked is None


def test_token_expiry_beyond_the_maximum_is_rejected(api):
    response = api["alice"].post("/api/v1/tokens/", {"name": "x", "expires_in_days": 100000}, format="json")
    assert response.status_code == 400
    assert "expires_in_days" in response.json()
    assert not ApiToken.objects.exists()
