"""The OpenStack-compatible API in-process (Django's test client, tasks eager, simulated hosts
from the compute fixtures) and, in test_clients.py, through the real clients against a portal."""

import json

import pytest
from django.test import Client

from tests.compute.conftest import cluster, flavor, fresh_hosts, host_a, hosts, image, pinned_flavor  # noqa: F401
from tests.conftest import PASSWORD

AUTH = "/openstack/identity/v3/auth/tokens"


def password_auth(username, project=None, password=PASSWORD, by_id=False):
    identity = {
        "methods": ["password"],
        "password": {"user": {"name": username, "domain": {"name": "Default"}, "password": password}},
    }
    auth = {"identity": identity}
    if project is not None:
        ref = {"id": str(project.pk)} if by_id else {"name": project.name, "domain": {"id": "default"}}
        auth["scope"] = {"project": ref}
    return {"auth": auth}


class Cloud:
    """A Django test client speaking JSON with a Keystone token."""

    def __init__(self, token=None):
        self.client, self.token = Client(), token

    def call(self, method, path, body=None, **headers):
        if self.token:
            headers.setdefault("X-Auth-Token", self.token)
        data = json.dumps(body) if body is not None else None
        response = getattr(self.client, method.lower())(
            path, data=data, content_type="application/json", headers=headers
        )
        response.data = json.loads(response.content) if response.content else None
        return response


def login(user, project, password=PASSWORD):
    response = Cloud().call("POST", AUTH, password_auth(user.username, project, password))
    assert response.status_code == 201, response.content
    return Cloud(response["X-Subject-Token"])


@pytest.fixture
def clouds(alice, bob, charlie, project_a, project_b, admin_user):
    return {
        "alice": login(alice, project_a),
        "bob": login(bob, project_a),
        "charlie": login(charlie, project_b),
    }
