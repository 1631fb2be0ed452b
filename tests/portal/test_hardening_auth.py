"""Hardening (issue 18): the auth edges. The login budget follows the username as sign-in
normalises it; X-Forwarded-For counts only from listed proxies; websocket origins match on
scheme, host and port; tokens never live past the maximum lifetime."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client, RequestFactory
from django.utils import timezone

from compute.metrics import prometheus
from portal.asgi import application
from portal.models import ApiToken
from portal.proxies import client_address
from tests.conftest import PASSWORD
from tests.portal.test_websocket import session_cookie


def sign_in(client, username, password):
    return client.post("/login/", {"username": username, "password": password})


@pytest.mark.parametrize("padded", ["bob ", " bob", "\tbob", "bob\n"])
def test_login_rate_limit_padded_usernames_share_bobs_budget(bob, settings, padded):
    client = Client()
    for _ in range(settings.LOGIN_RATE_LIMIT - 1):
        assert sign_in(client, "bob", "wrong").status_code == 200
    assert sign_in(client, padded, "wrong").status_code == 200  # the last try, padded
    assert sign_in(client, "bob", PASSWORD).status_code == 429


def test_login_rate_limit_locked_bob_padded_with_the_right_password_is_refused(bob, settings):
    client = Client()
    for _ in range(settings.LOGIN_RATE_LIMIT):
        sign_in(client, "bob", "wrong")
    response = sign_in(client, "bob   ", PASSWORD)
    assert response.status_code == 429 and "_auth_user_id" not in client.session


def test_login_rate_limit_padding_still_signs_in_when_not_locked(bob):
    client = Client()
    assert sign_in(client, " bob ", PASSWORD).status_code == 302  # as Django's form strips it


def test_login_rate_limit_forged_forwarded_for_gets_no_fresh_budget(bob, settings):
    client = Client()
    for n in range(settings.LOGIN_RATE_LIMIT):
        client.post("/login/", {"username": "bob", "password": "wrong"}, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    response = client.post("/login/", {"username": "bob", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert response.status_code == 429


def forwarded(remote, chain):
    return RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=chain)


def test_forwarded_for_is_ignored_without_trusted_proxies(settings):
    settings.NUBES_TRUSTED_PROXIES = []
    assert client_address(forwarded("127.0.0.1", "192.0.2.7")) == "127.0.0.1"


def test_forwarded_for_counts_behind_a_trusted_proxy_only(settings):
    settings.NUBES_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_address(forwarded("10.0.0.5", "192.0.2.7")) == "192.0.2.7"
    # the client may prepend anything; the address the trusted proxy added is the one used
    assert client_address(forwarded("10.0.0.5", "198.51.100.1, 192.0.2.7")) == "192.0.2.7"
    assert client_address(forwarded("10.0.0.5", "192.0.2.7, 10.0.0.9")) == "192.0.2.7"
    assert client_address(forwarded("203.0.113.4", "192.0.2.7")) == "203.0.113.4"  # not a proxy
    assert client_address(forwarded("10.0.0.5", "not-an-address")) == "10.0.0.5"


def test_metrics_address_check_cannot_be_steered_by_forwarded_for(settings, db):
    settings.NUBES_METRICS_TOKEN = ""
    settings.NUBES_METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    request = RequestFactory().get("/metrics", REMOTE_ADDR="192.0.2.9", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert prometheus.metrics_view(request).status_code == 403
    settings.NUBES_TRUSTED_PROXIES = ["192.0.2.9"]  # now it is a proxy: its word counts
    assert prometheus.metrics_view(request).status_code == 200


def test_runportal_gives_uvicorn_the_same_trusted_proxies(settings, monkeypatch):
    import uvicorn

    from portal.management.commands import runportal

    seen = {}

    class Stop(Exception):
        pass

    def config(*args, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(uvicorn, "Config", config)
    monkeypatch.setattr(runportal.settings, "CELERY_BROKER_URL", "redis://unused")
    for proxies, headers in (([], False), (["10.0.0.1"], True)):
        settings.NUBES_TRUSTED_PROXIES = proxies
        with pytest.raises(Stop):
            runportal.Command().handle(host="127.0.0.1", port=1, concurrency=1, no_beat=True)
        assert seen["forwarded_allow_ips"] == proxies and seen["proxy_headers"] is headers


async def open_socket(user, origin, host="127.0.0.1"):
    headers = [(b"origin", origin.encode()), (b"host", host.encode())]
    headers.append(await sync_to_async(session_cookie)(user))
    comm = WebsocketCommunicator(application, "/ws/", headers=headers)
    connected, _ = await comm.connect()
    if connected:
        await comm.disconnect()
    return connected


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "origin, host, opens",
    [
        ("http://127.0.0.1", "127.0.0.1", True),
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("http://127.0.0.1:9999", "127.0.0.1", False),  # another port of the same host
        ("http://127.0.0.1:9999", "127.0.0.1:8000", False),
        ("https://127.0.0.1", "127.0.0.1", False),  # another scheme
        ("http://evil.example", "evil.example", False),  # DNS rebinding: not one of ALLOWED_HOSTS
        ("null", "127.0.0.1", False),
    ],
)
async def test_websocket_origin_checked_on_scheme_host_and_port(alice, origin, host, opens):
    assert await open_socket(alice, origin, host) is opens


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_websocket_origin_from_csrf_trusted_origins(alice, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://cloud.example"]
    # behind a TLS proxy the socket arrives as ws:// for Host cloud.example
    settings.ALLOWED_HOSTS = ["cloud.example"]
    assert await open_socket(alice, "https://cloud.example", "cloud.example") is True
    assert await open_socket(alice, "https://cloud.example:8443", "cloud.example") is False


def test_tokens_without_expires_in_days_get_the_maximum_lifetime(api, alice, settings):
    response = api["alice"].post("/api/v1/tokens/", {"name": "ci"}, format="json")
    assert response.status_code == 201, response.content
    token = ApiToken.objects.get(name="ci")
    expected = timezone.now() + timedelta(days=settings.NUBES_TOKEN_MAX_DAYS)
    assert token.expires is not None and abs(token.expires - expected) < timedelta(minutes=1)


def test_tokens_from_the_page_without_a_lifetime_get_the_maximum_too(alice, settings):
    client = Client()
    client.force_login(alice)
    assert client.post("/tokens/", {"name": "page"}).status_code == 302
    token = ApiToken.objects.get(name="page")
    assert token.expires is not None and token.expires > timezone.now() + timedelta(days=364)
