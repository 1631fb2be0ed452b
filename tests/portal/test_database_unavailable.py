"""While the database cannot be reached (a restart, a failover) requests answer 503 with
Retry-After, JSON under /api/, instead of a 500 "internal error": the fleet's PostgreSQL restart
showed 500s for the outage. The outage here is real: the connection is pointed at a database that
cannot be opened (SQLite: a file in a missing directory; PostgreSQL: a closed port)."""

import pytest
from django.db import connection
from django.test import Client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def database_down(alice):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-nubes-dir/db.sqlite3"
    else:
        connection.settings_dict.update(HOST="127.0.0.1", PORT="1")  # nothing listens on port 1
    yield client
    connection.close()
    connection.settings_dict.clear()
    connection.settings_dict.update(saved)


def test_an_api_request_while_the_database_is_down_is_a_503_with_retry_after(database_down):
    response = database_down.get("/api/v1/instances/")
    assert response.status_code == 503 and response["Retry-After"] == "5", response.content
    assert response["Content-Type"] == "application/json" and "database" in response.json()["detail"]


def test_a_page_while_the_database_is_down_is_a_503_too(database_down):
    response = database_down.get("/compute/instances/")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "database is unavailable" in response.content.decode()
