"""Hardening (issue 18): what tenants may not see. Host URIs and file paths are for cloud
admins; another project's private flavor reads like one that does not exist; the schema and
docs need a sign-in; security headers come from the settings."""

import pytest
from django.test import Client

from compute.models import Cluster, Flavor, Host
from portal import operations
from portal.models import Operation
from tests.conftest import client_for

URI = "qemu+ssh://root@hv1.internal/system"
PATH = "/var/lib/libvirt/images/volume-7.qcow2"


@pytest.fixture
def host(db):
    return Host.objects.create(
        name="hv1", uri=URI, cluster=Cluster.objects.create(name="c1"), migration_uri="tcp://hv1"
    )


def test_tenants_never_see_host_uris_cloud_admins_do(api, host):
    tenant = api["alice"].get(f"/api/v1/hosts/{host.pk}/").json()
    assert not {"uri", "migration_uri", "serial_log_dir"} & set(tenant), tenant
    assert URI not in str(api["alice"].get("/api/v1/hosts/").json())
    admin = api["admin"].get(f"/api/v1/hosts/{host.pk}/").json()
    assert admin["uri"] == URI and admin["migration_uri"] == "tcp://hv1"


@pytest.fixture
def failed_op(project_a, alice):
    op = operations.begin_untargeted("volume.download", name="data", project=project_a, user=alice)
    operations.fail(op, f"cannot read '{PATH}' on {URI}: Input/output error")
    return Operation.objects.get(pk=op.pk)


def test_tenants_read_operation_errors_without_host_uris_or_paths(api, failed_op):
    """A reader's failed download once showed the volume's path on the host."""
    body = api["bob"].get(f"/api/v1/operations/{failed_op.pk}/").json()
    assert PATH not in str(body) and URI not in str(body), body
    assert "Input/output error" in body["error"]  # the rest of the message stays
    assert PATH in api["admin"].get(f"/api/v1/operations/{failed_op.pk}/").json()["error"]


def test_the_operation_page_hides_paths_from_tenants(bob, admin_user, failed_op):
    tenant, admin = Client(), Client()
    tenant.force_login(bob)
    admin.force_login(admin_user)
    page = tenant.get(f"/operations/{failed_op.pk}/").content.decode()
    assert PATH not in page and URI not in page and "Input/output error" in page
    assert PATH in admin.get(f"/operations/{failed_op.pk}/").content.decode()


def test_flavor_of_another_project_reads_like_one_that_does_not_exist(api, project_b):
    private = Flavor.objects.create(
        name="secret", vcpus=1, ram_mb=512, disk_gb=1, visibility="private", project=project_b
    )
    answers = []
    for flavor_id in (private.pk, private.pk + 1000):
        response = api["alice"].post("/api/v1/instances/", {"name": "web", "flavor": flavor_id}, format="json")
        assert response.status_code == 400
        answers.append(response.json()["flavor"][0].replace(str(flavor_id), "N"))
    assert answers[0] == answers[1] and "does not exist" in answers[0], answers


def test_api_schema_and_docs_need_a_sign_in(db):
    anonymous = Client()
    assert anonymous.get("/api/schema/").status_code in (401, 403)
    docs = anonymous.get("/api/docs/")
    assert docs.status_code == 302 and "/login/" in docs["Location"]


def test_api_schema_open_to_a_token(alice):
    assert client_for(alice).get("/api/schema/").status_code == 200


def test_api_schema_and_docs_open_with_the_setting(db, settings):
    settings.NUBES_API_DOCS_PUBLIC = True
    anonymous = Client()
    assert anonymous.get("/api/schema/").status_code == 200
    assert anonymous.get("/api/docs/").status_code == 200


def test_security_headers_hsts_behind_a_tls_proxy(db, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    response = Client().get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert response["X-Content-Type-Options"] == "nosniff" and response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    plain = Client().get("/login/")  # not HTTPS: no HSTS (browsers ignore it there anyway)
    assert "Strict-Transport-Security" not in plain


def test_security_headers_no_proxy_ssl_header_by_default(db):
    from django.conf import settings

    assert settings.SECURE_PROXY_SSL_HEADER is None  # X-Forwarded-Proto believed only when configured
    response = Client().get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert "Strict-Transport-Security" not in response


def test_security_settings_read_from_the_environment(monkeypatch):
    import importlib

    import portal.settings as portal_settings

    monkeypatch.setenv("NUBES_PROXY_SSL_HEADER", "true")
    monkeypatch.setenv("SECURE_HSTS_SECONDS", "600")
    try:
        reloaded = importlib.reload(portal_settings)
        assert reloaded.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")
        assert reloaded.SECURE_HSTS_SECONDS == 600
    finally:
        monkeypatch.delenv("NUBES_PROXY_SSL_HEADER")
        monkeypatch.delenv("SECURE_HSTS_SECONDS")
        importlib.reload(portal_settings)
