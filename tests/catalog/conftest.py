"""Catalog fixtures: compute's simulated hosts, flavors and image, and a PostgreSQL template
like the one `make lab` registers (the scripts of lab/service-guest/nubes-agent/)."""

import pytest

from catalog.models import ServiceTemplate
from tests.compute.conftest import big_flavor, cluster, flavor, fresh_hosts, host_a, hosts, image  # noqa: F401

NAME = {"type": "string", "pattern": "^[a-z_][a-z0-9_]{0,62}$"}
POSTGRES_SCHEMA = {
    "type": "object",
    "properties": {
        "version": {"type": "string", "enum": ["15"]},
        "max_connections": {"type": "integer", "minimum": 10, "maximum": 1000},
    },
    "required": ["version"],
    "additionalProperties": False,
}
POSTGRES_ACTIONS = {
    "health": {"script": "health"},
    "db-list": {"script": "db-list"},
    "user-list": {"script": "user-list"},
    "db-create": {
        "script": "db-create",
        "description": "Create a database",
        "arguments": {
            "type": "object",
            "properties": {"name": NAME, "owner": NAME},
            "required": ["name"],
            "additionalProperties": False,
        },
    },
    "user-create": {
        "script": "user-create",
        "arguments": {
            "type": "object",
            "properties": {"name": NAME, "password": {"type": "string", "minLength": 8, "writeOnly": True}},
            "required": ["name", "password"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture
def template(db, image, flavor):
    template = ServiceTemplate.objects.create(
        name="postgresql",
        image=image,
        parameter_schema=POSTGRES_SCHEMA,
        actions=POSTGRES_ACTIONS,
        readable_paths=["/var/log/postgresql"],
        log_path="/var/log/postgresql/postgresql-15-main.log",
    )
    template.full_clean()
    template.flavors.set([flavor])
    return template
