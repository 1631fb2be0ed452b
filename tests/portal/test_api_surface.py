"""Schema, docs, health, and the bad-input classes every endpoint shares."""

import os

import pytest

from portal.models import ApiToken, Project


def test_the_openapi_schema_lists_the_platform_resources(api):
    response = api["alice"].get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("/api/v1/operations/", "/api/v1/projects/", "/api/v1/tokens/", "/api/v1/quotas/"):
        assert path in paths


def test_the_docs_page_renders_without_a_cdn(client, alice):
    client.force_login(alice)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"cdn" not in response.content.lower()


@pytest.mark.parametrize("path", ["/healthz", "/healthz/"])
def test_healthz_answers(client, db, path):
    response = client.get(path)
    assert response.status_code == 200 and response.json() == {"status": "ok", "process": os.getpid()}


@pytest.mark.parametrize("path", ["/readyz", "/readyz/"])
def test_readyz_checks_database_broker_and_channel_layer(client, db, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok", "channel_layer": "ok"}


def test_unknown_fields_are_rejected_and_nothing_is_written(api):
    response = api["alice"].post("/api/v1/tokens/", {"name": "x", "admin": True}, format="json")
    assert response.status_code == 400
    assert response.json() == {"admin": ["Unknown field."]}
    assert not ApiToken.objects.exists()


def test_a_wrong_type_gets_a_field_message(api):
    response = api["alice"].post("/api/v1/tokens/", {"name": "x", "expires_in_days": "soon"}, format="json")
    assert response.status_code == 400
    assert "expires_in_days" in response.json()


def test_a_negative_number_gets_a_field_message(api):
    response = api["alice"].post("/api/v1/tokens/", {"name": "x", "expires_in_days": -1}, format="json")
    assert response.status_code == 400
    assert "expires_in_days" in response.json()


def test_a_huge_number_gets_a_field_message(api, project_a):
    quota = project_a.quotas.get(resource="instances")
    response = api["admin"].patch(f"/api/v1/quotas/{quota.pk}/", {"limit": 10**30}, format="json")
    assert response.status_code == 400
    assert "limit" in response.json()


def test_a_name_with_shell_or_xml_metacharacters_is_refused(api):
    for name in ("a;rm -rf /", "<x>&", "$(id)", "../etc"):
        response = api["admin"].post("/api/v1/projects/", {"name": name}, format="json")
        assert response.status_code == 400, name
        assert "name" in response.json()
    assert not Project.objects.filter(name__contains="x>").exists()


def test_malformed_json_is_a_400(api):
    response = api["alice"].post("/api/v1/tokens/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_the_schema_generates_without_errors(db, tmp_path, capsys):
    from django.core.management import call_command

    call_command("spectacular", "--file", str(tmp_path / "schema.yml"))
    errors = [line for line in capsys.readouterr().err.splitlines() if " Error " in line or "Error [" in line]
    assert errors == []
    assert "bearer" in (tmp_path / "schema.yml").read_text()
