"""Hardening (issue 18), names accepted control characters, bidi overrides and empty strings:
the network tests cover the rule in depth; this one checks that every create the schema
documents with a name applies it, so a new resource cannot slip past the shared rule."""

import functools
import json

import pytest
from drf_spectacular.generators import SchemaGenerator


@functools.cache
def creates_with_a_name():
    raw = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))
    components, paths = raw["components"]["schemas"], []
    for path, operations in raw["paths"].items():
        body = operations.get("post", {}).get("requestBody", {}).get("content", {}).get("application/json", {})
        ref = body.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
        if "{" not in path and ref and "name" in components[ref].get("properties", {}):
            paths.append(path)
    return paths


@pytest.mark.parametrize("name", ["evil\u202etxt.exe", "bell\x07"])  # "" is fine where optional (ports)
def test_names_every_create_refuses_a_bad_name(api, name):
    paths = creates_with_a_name()
    assert len(paths) >= 20, paths  # instances, volumes, networks, projects, tokens ...
    for path in paths:
        response = api["admin"].post(path, {"name": name}, format="json")
        assert response.status_code == 400 and "name" in response.json(), (path, response.content)
