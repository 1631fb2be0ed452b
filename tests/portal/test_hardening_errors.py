"""Hardening (issue 18): the global guards. Bodies are bounded in size and JSON nesting, every
integer an API write accepts is bounded, and every error under /api/ is JSON, 500 included."""

from django.test import Client
from rest_framework import serializers

from compute.models import Cluster

INSTANCES = "/api/v1/instances/"
OUR_APPS = {"portal", "compute", "storage", "network", "scheduler"}


def test_json_nested_100000_deep_is_a_400_naming_the_body(api):
    response = api["alice"].post(INSTANCES, "[" * 100_000, content_type="application/json")
    assert response.status_code == 400 and "body" in response.json(), response.content


def test_json_nesting_within_the_limit_still_parses(api, settings):
    body = "[" * settings.NUBES_API_MAX_JSON_DEPTH + "]" * settings.NUBES_API_MAX_JSON_DEPTH
    response = api["alice"].post("/api/v1/tokens/", body, content_type="application/json")
    assert response.status_code == 400 and "body" not in response.json(), response.content  # a list, not a dict


def test_brackets_inside_strings_do_not_count_as_nesting(api):
    response = api["alice"].post("/api/v1/tokens/", {"name": "[" * 1000}, format="json")
    assert response.status_code == 400 and "name" in response.json()  # too long a name, not too deep


def test_a_json_body_over_the_limit_is_a_413_json(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    response = api["alice"].post("/api/v1/tokens/", {"name": "x" * 5000}, format="json")
    assert response.status_code == 413 and "body" in response.json(), response.content


def test_a_form_body_over_the_limit_is_a_413_json(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    response = api["alice"].post("/api/v1/tokens/", {"name": "x" * 5000})  # multipart
    assert response.status_code == 413 and "body" in response.json(), response.content


def test_instance_networks_id_past_64_bits_is_a_400_naming_networks(api):
    response = api["alice"].post(INSTANCES, {"name": "web", "networks": [2**63]}, format="json")
    assert response.status_code == 400 and "networks" in response.json(), response.content


def test_a_related_id_past_64_bits_is_a_400_naming_the_field(api):
    response = api["alice"].post(INSTANCES, {"name": "web", "flavor": 2**63, "image": 2**64}, format="json")
    assert response.status_code == 400, response.content
    assert {"flavor", "image"} <= set(response.json())


def test_scheduler_settings_with_a_non_numeric_id_is_a_404_json(api):
    for path in ("/api/v1/scheduler-settings/abc/", "/api/v1/scheduler-settings/abc/ha-status/"):
        response = api["admin"].get(path)
        assert response.status_code == 404 and response["Content-Type"] == "application/json", path
    response = api["admin"].post("/api/v1/scheduler-settings/abc/drs-run/")
    assert response.status_code == 404 and "detail" in response.json()


def test_scheduler_settings_of_a_real_cluster_still_answer(api):
    cluster = Cluster.objects.create(name="c1")
    assert api["admin"].get(f"/api/v1/scheduler-settings/{cluster.pk}/").status_code == 200


def test_an_unknown_api_path_is_a_404_json(api):
    response = api["alice"].get("/api/v1/no-such-thing/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}


def test_an_unknown_page_outside_the_api_stays_html(client, alice):
    client.force_login(alice)
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and "json" not in response["Content-Type"]


def test_an_unexpected_error_under_the_api_is_a_500_json(alice, monkeypatch):
    from portal.api import views

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views.ApiTokenViewSet, "list", broken)
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    response = client.get("/api/v1/tokens/")
    assert response.status_code == 500 and response["Content-Type"] == "application/json"
    assert "a bug" not in response.content.decode() and "detail" in response.json()


def all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from all_subclasses(sub)


def declared_integers():
    """(serializer, field name, field) of every integer field our serializers declare; the ones
    ModelSerializer builds from model fields carry the column's bounds from Django already."""
    for cls in set(all_subclasses(serializers.Serializer)):
        if cls.__module__.split(".")[0] not in OUR_APPS:
            continue
        for name, field in cls._declared_fields.items():
            for candidate in (field, getattr(field, "child", None)):
                if isinstance(candidate, serializers.IntegerField) and not field.read_only:
                    yield cls.__name__, name, candidate


def test_every_integer_an_api_write_accepts_is_bounded(db):
    import portal.urls  # noqa: F401 (imports every app's serializers)

    found = list(declared_integers())
    assert len(found) > 10  # the walk found the serializers
    unbounded = [f"{cls}.{name}" for cls, name, field in found if field.max_value is None]
    assert not unbounded, unbounded
