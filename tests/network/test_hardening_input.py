"""Hardening (issue 18): bad network input is a 4xx naming the field, never a 500, and
nothing reaches OVN."""

import pytest
from django.test.client import MULTIPART_CONTENT, encode_multipart

NETS, SUBNETS, PORTS = "/api/v1/networks/", "/api/v1/subnets/", "/api/v1/ports/"
ROUTERS, GROUPS = "/api/v1/routers/", "/api/v1/security-groups/"


@pytest.mark.parametrize("path", [NETS, ROUTERS, GROUPS])
def test_create_with_an_empty_body_is_a_400_naming_the_name(api, nb, path):
    response = api["alice"].post(path, {}, format="json")
    assert response.status_code == 400 and "name" in response.json(), response.content


def test_router_routes_null_as_multipart_is_a_400_naming_routes(api, nb, run_tasks):
    with run_tasks():
        router = api["alice"].post(ROUTERS, {"name": "r"}, format="json").json()
    body = encode_multipart("BoUnDaRy", {"routes": "null"})
    response = api["alice"].patch(
        f"{ROUTERS}{router['id']}/", body, content_type=MULTIPART_CONTENT.replace("BoUnDaRyStRiNg", "BoUnDaRy")
    )
    assert response.status_code == 400 and "routes" in response.json(), response.content
    assert api["alice"].get(f"{ROUTERS}{router['id']}/").json()["routes"] == []
