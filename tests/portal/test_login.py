from django.test import Client

from tests.conftest import PASSWORD


def test_login_with_the_right_password_reaches_the_dashboard(alice):
    client = Client()
    response = client.post("/login/", {"username": "alice", "password": PASSWORD}, follow=True)
    assert response.status_code == 200
    assert b"Dashboard" in response.content


def test_login_is_rate_limited_after_repeated_failures(alice, settings):
    client = Client()
    for _ in range(settings.LOGIN_RATE_LIMIT):
        assert client.post("/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    assert "_auth_user_id" not in client.session


def test_the_dashboard_needs_a_login(db):
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_api_keeps_csrf_for_session_clients(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/api/v1/tokens/", {"name": "x"}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
