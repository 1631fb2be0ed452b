"""A worker's database connection cut by the server (as a PostgreSQL restart cuts every session):
an Operation's progress and outcome are still written once the database answers, and a lease
thread renews again, instead of failing on the dead connection until the reaper takes the
Operation from a live worker. The cut is real: pg_terminate_backend from another session."""

import time

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from portal import leases, operations, reconnect
from portal.models import Operation

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
LEASE_S = 3  # renewed every second


@pytest.fixture
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): the server cuts a session here")


def cut(pids):
    """Terminate these server sessions from a session of our own, as a restart would."""
    params = connection.get_connection_params()
    with psycopg.connect(
        host=params.get("host"), port=params.get("port"), user=params.get("user"), dbname=params["dbname"]
    ) as other:
        other.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [list(pids)])


def backend_pid():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_progress_after_the_server_cut_the_connection_is_written_on_a_new_one(postgres, project_a):
    op = leases.claim(operations.begin("x.slow", project_a).pk, worker="w/1")
    before = backend_pid()
    cut([before])
    operations.progress(op, 40, "after the cut")
    assert backend_pid() != before
    assert Operation.objects.get(pk=op.pk).progress == 40


def test_a_lease_thread_renews_again_after_the_server_cut_its_connection(postgres, project_a, settings, monkeypatch):
    settings.NUBES_OPERATION_LEASE = LEASE_S
    op = leases.claim(operations.begin("x.slow", project_a).pk, worker="w/1")
    seen = {}
    real_renew = leases.renew

    def renew(op_id, worker):  # notes the thread's server session, then renews for real
        seen.setdefault("pids", set()).add(backend_pid())
        return real_renew(op_id, worker)

    monkeypatch.setattr(leases, "renew", renew)
    with leases.Heartbeat(op.pk, "w/1", limit=60):
        deadline = time.monotonic() + 20
        while not seen.get("pids") and time.monotonic() < deadline:
            time.sleep(0.1)
        cut(seen["pids"])
        cut_at = timezone.now()
        deadline = time.monotonic() + 4 * LEASE_S
        while time.monotonic() < deadline:
            if Operation.objects.get(pk=op.pk).lease_expires_at > cut_at + timezone.timedelta(seconds=LEASE_S):
                break
            time.sleep(0.2)
    expires = Operation.objects.get(pk=op.pk).lease_expires_at
    assert expires > cut_at + timezone.timedelta(seconds=LEASE_S), "the lease was not renewed after the cut"
    assert len(seen["pids"]) >= 2, f"renewed on one server session only: {seen['pids']}"


def test_a_tasks_query_after_the_server_cut_the_connection_runs_on_a_new_one(postgres, project_a):
    op = leases.claim(operations.begin("x.slow", project_a).pk, worker="w/1")
    with reconnect.riding_out_restarts():
        before = backend_pid()
        cut([before])
        Operation.objects.filter(pk=op.pk).update(message="written after the cut")
        after = backend_pid()
        cut([after])
        assert Operation.objects.get(pk=op.pk).message == "written after the cut"  # a read, too
    assert after != before


def test_outside_a_task_a_cut_connection_still_fails_loudly(postgres, project_a):
    cut([backend_pid()])
    with pytest.raises(reconnect.LOST):
        Operation.objects.count()
    connection.close()  # as Django does when the request or task ends
