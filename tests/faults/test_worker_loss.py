"""A Celery worker process killed (SIGKILL, by PID) mid-task on PostgreSQL + Redis: the
Operation it held ends through the reaper within lease + reaper period, and the target is free
again; cancel of such an Operation ends it once the lease ran out. Real worker, real broker."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from portal import leases, operations
from portal.celery import app as celery_app
from portal.models import Operation, Project
from tests.faults.slow_tasks import TASK

# Short by default to keep the run short; NUBES_FAULTS_LEASE=30 measures the production default.
LEASE_S = int(os.environ.get("NUBES_FAULTS_LEASE", "3"))
REAPER_S = max(2, LEASE_S // 2)
QUEUE = "nubes-faults-victim"
START_TIMEOUT_S = 120  # a worker imports Django and every app first; slow on a loaded machine
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def real_stack(settings):
    if connection.vendor != "postgresql" or not django_settings.REDIS_URL:
        pytest.skip("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL): a worker in another process shares them")
    settings.NUBES_OPERATION_LEASE = LEASE_S
    settings.NUBES_REAPER_INTERVAL = REAPER_S
    redis.Redis.from_url(django_settings.REDIS_URL).delete(QUEUE)  # our own queue: stale messages of a past run
    yield


@pytest.fixture
def workers(tmp_path):
    started = []

    def start(name):
        url = urlsplit(os.environ["DATABASE_URL"])
        env = {
            **os.environ,
            "DATABASE_URL": urlunsplit(url._replace(path="/" + connection.settings_dict["NAME"])),
            "NUBES_OPERATION_LEASE": str(LEASE_S),
            "NUBES_DATA_DIR": str(tmp_path),
        }
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process below
        command = [sys.executable, "-m", "celery", "-A", "portal", "worker", "-P", "solo", "-Q", QUEUE]
        command += ["-n", f"{name}@%h", "-I", "tests.faults.slow_tasks", "--without-mingle", "--without-gossip"]
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        started.append((proc, log))
        return proc

    yield start
    for proc, log in started:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
    # send_task(queue=...) declared our queue in this process's Celery app: take it out again, or
    # later tests see a fifth queue a worker would consume (tests/portal/test_queues.py).
    celery_app.amqp.queues.pop(QUEUE, None)


def _send(op, seconds=600):
    celery_app.send_task(TASK, args=[op.pk, seconds], queue=QUEUE)


def _wait_running(op, proc, tmp_path, name):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        op.refresh_from_db()
        if op.status == "running":
            return op
        time.sleep(0.2)
    log = (tmp_path / f"{name}.log").read_text()[-3000:]
    pytest.fail(f"the worker never ran operation {op.pk} ({op.status}); its log ends:\n{log}")


def _kill(proc):
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    return time.monotonic()


@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_a_killed_worker_leaves_an_operation_the_reaper_fails_in_time(real_stack, workers, tmp_path):
    project = Project.objects.create(name="victim")
    op = operations.begin("tests.slow", project)
    _send(op)
    proc = workers("victim1")
    op = _wait_running(op, proc, tmp_path, "victim1")
    assert op.worker.endswith(f"/{proc.pid}")  # the solo pool runs the task in the PID we kill
    killed = _kill(proc)

    assert leases.reap() == []  # the lease still runs: nobody declares it lost early
    outcome = []
    while not outcome and time.monotonic() - killed < 10 * LEASE_S:
        time.sleep(REAPER_S)  # one reaper round, as beat runs it every NUBES_REAPER_INTERVAL
        outcome = leases.reap()
    took = time.monotonic() - killed
    op.refresh_from_db()
    print(f"\nkill -> failed Operation: {took:.1f} s (lease {LEASE_S} s, reaper every {REAPER_S} s)")
    assert outcome == [(op.pk, "failed")], f"not reaped in {took:.1f} s"
    assert op.status == "failed" and "Worker lost: victim1@" in op.error
    freed = operations.begin("tests.slow", project)  # one action at a time: the target is free
    operations.cancelled(freed)


@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_cancel_of_an_operation_whose_worker_was_killed_ends_it(real_stack, workers, tmp_path, api):
    project = Project.objects.get(name="acme")
    op = operations.begin("tests.slow", project, cancellable=True)
    _send(op)
    proc = workers("victim2")
    op = _wait_running(op, proc, tmp_path, "victim2")
    _kill(proc)

    assert api["alice"].post(f"/api/v1/operations/{op.pk}/cancel/").status_code == 200
    op.refresh_from_db()
    assert op.status == "running" and op.cancel_requested  # its lease still runs: only asked
    while op.lease_expires_at >= timezone.now():
        time.sleep(0.5)
        op.refresh_from_db()
    assert api["alice"].post(f"/api/v1/operations/{op.pk}/cancel/").status_code == 200
    op.refresh_from_db()
    assert op.status == "cancelled" and "victim2@" in op.message
    operations.cancelled(operations.begin("tests.slow", project))
    assert not Operation.objects.filter(project=project, status__in=["queued", "running"]).exists()
