"""The web processes' connection pool (NUBES_DB_POOL) after PostgreSQL restarts: the requests
that follow succeed at once, none a 5xx, and while the database refuses connections a request
is a 503 at once. Session 8's fleet rehearsal failed here: psycopg_pool's check slept 1 s, 2 s,
... between the dead connections it found, its replacements backed off while counted in the
pool, and a request timed out. The restart is real for this test's own database only: its
sessions cut with pg_terminate_backend(), and for the outage the database closed to connections
(ALLOW_CONNECTIONS false) meanwhile."""

import threading
import time
from contextlib import contextmanager

import psycopg
import pytest
from django.db import close_old_connections, connection, connections
from django.db.utils import load_backend
from django.test import Client

from portal import env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
POOL = 4
AT_ONCE_S = 0.8  # psycopg_pool's own check slept 0.9-1.1 s at the first dead connection
REQUESTS = 20


@pytest.fixture
def pooled(alice):
    """The default connection drawn from a pool of POOL for the test (this thread's requests),
    every connection of the pool opened; a client signed in as alice."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): the server cuts the pool's sessions here")
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    plain = connections["default"]
    plain.close()
    settings = env.pooled(dict(plain.settings_dict), POOL)
    wrapper = load_backend(settings["ENGINE"]).DatabaseWrapper(settings, "default")
    connections["default"] = wrapper
    wrapper.pool.open(wait=True)
    taken = [wrapper.pool.getconn() for _ in range(POOL)]  # all POOL open, then idle in the pool
    for each in taken:
        wrapper.pool.putconn(each)
    yield client, wrapper.pool
    wrapper.close()
    wrapper.close_pool()
    connections["default"] = plain


@contextmanager
def admin_session(dbname):
    params = connection.get_connection_params()
    with psycopg.connect(
        host=params.get("host"), port=params.get("port"), user=params.get("user"), dbname=dbname, autocommit=True
    ) as admin:
        yield admin


def cut_every_session(dbname):
    """As a restart does: every other session of this test's database terminated."""
    with admin_session(dbname) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [dbname],
        )


@contextmanager
def database_down(dbname):
    """The database refusing connections, its sessions cut, for the block."""
    with admin_session("postgres") as admin:
        admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [dbname])
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')


def timed(client, count):
    """(status codes, the slowest's seconds) of `count` API reads in a row. The test client
    leaves out the handler's close_old_connections() after each request: called here."""
    codes, slowest = [], 0.0
    for _ in range(count):
        t0 = time.monotonic()
        codes.append(client.get("/api/v1/instances/").status_code)
        close_old_connections()  # the connection back to the pool, as after every request in production
        slowest = max(slowest, time.monotonic() - t0)
    return codes, slowest


def held_at_once(pool, count):
    """Seconds until `count` threads each hold one of the pool's connections at the same time:
    the pool's full size is usable again."""
    barrier = threading.Barrier(count + 1)
    t0 = time.monotonic()

    def hold():
        with pool.connection(timeout=5) as conn:
            conn.execute("SELECT 1")
            barrier.wait(timeout=10)

    threads = [threading.Thread(target=hold) for _ in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=10)
    took = time.monotonic() - t0
    for thread in threads:
        thread.join()
    return took


def test_after_every_session_was_cut_the_next_requests_succeed_at_once(pooled):
    client, pool = pooled
    assert timed(client, 2)[0] == [200, 200]
    cut_every_session(connection.settings_dict["NAME"])
    codes, slowest = timed(client, REQUESTS)
    assert codes == [200] * REQUESTS, codes
    assert slowest < AT_ONCE_S, f"a request took {slowest:.2f} s after the cut"
    assert held_at_once(pool, POOL) < AT_ONCE_S


def test_while_the_database_is_down_a_503_at_once_and_after_it_every_request_succeeds(pooled):
    client, pool = pooled
    name = connection.settings_dict["NAME"]
    with database_down(name):
        for _ in range(3):
            t0 = time.monotonic()
            response = client.get("/api/v1/instances/")
            close_old_connections()
            assert response.status_code == 503 and time.monotonic() - t0 < AT_ONCE_S, (
                f"{response.status_code} after {time.monotonic() - t0:.2f} s while the database was down"
            )
        time.sleep(1)  # the pool's own attempts to replace its connections fail meanwhile
    codes, slowest = timed(client, REQUESTS)
    assert codes == [200] * REQUESTS, codes
    assert slowest < AT_ONCE_S, f"a request took {slowest:.2f} s after the database was back"
    assert held_at_once(pool, POOL) < AT_ONCE_S
