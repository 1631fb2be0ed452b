"""Shared fixtures: alice (member of acme), bob (reader of acme), charlie (member of globex
only) and admin (cloud admin); API clients for each; Celery tasks run eagerly on commit."""

import asyncio

import pytest
import pytest_asyncio
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from portal.celery import app as celery_app
from portal.choices import Role
from portal.models import Membership, Project

PASSWORD = "s3cret-pass-for-tests"


@pytest.fixture(autouse=True, scope="session")
def eager_celery():
    # Tasks still run through Celery's machinery, synchronously in the caller's thread.
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield


@pytest.fixture(autouse=True, scope="session")
def no_embedded_children():
    """An in-process seed (call_command("seed_demo")) starts no child process of the embedded
    default (its OVN Northbound in the data directory): tests choose their own NB (tests/network's
    nb fixture); the embedded one is tested through real `make run` commands (test_first_run)."""
    from portal import embedded

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(embedded, "_starters", [])
        yield


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_cache():
    from django.core.cache import cache

    cache.clear()
    yield


def make_user(username, staff=False):
    user = get_user_model().objects.create_user(username, f"{username}@example.test", PASSWORD)
    if staff:
        user.is_staff = user.is_superuser = True
        user.save()
    return user


@pytest.fixture
def project_a(db):
    return Project.objects.create(name="acme")


@pytest.fixture
def project_b(db):
    return Project.objects.create(name="globex")


@pytest.fixture
def alice(project_a):
    user = make_user("alice")
    Membership.objects.create(user=user, project=project_a, role=Role.MEMBER)
    return user


@pytest.fixture
def bob(project_a):
    user = make_user("bob")
    Membership.objects.create(user=user, project=project_a, role=Role.READER)
    return user


@pytest.fixture
def charlie(project_b):
    user = make_user("charlie")
    Membership.objects.create(user=user, project=project_b, role=Role.MEMBER)
    return user


@pytest.fixture
def admin_user(db):
    return make_user("admin", staff=True)


def client_for(user):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def api(alice, bob, charlie, admin_user):
    """api['alice'] etc.: authenticated API clients; api['anon'] is anonymous."""
    return {
        "alice": client_for(alice),
        "bob": client_for(bob),
        "charlie": client_for(charlie),
        "admin": client_for(admin_user),
        "anon": APIClient(),
    }


@pytest.fixture
def run_tasks(django_capture_on_commit_callbacks):
    """Use as `with run_tasks():` around a request: its on_commit tasks run before the block ends."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest_asyncio.fixture
async def _no_task_left_behind():
    """An async test's own tasks are ended before its event loop closes. A channels_redis receive
    cancelled at the wrong moment (during redis-py's read) can swallow that one cancellation and
    block on Redis again, and the loop's close then waits for it for ever (seen on PostgreSQL +
    Redis runs, at any test's teardown): here leftovers are cancelled again until they end."""
    yield
    current = asyncio.current_task()
    for _ in range(LEFTOVER_CANCEL_ROUNDS):
        left = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
        if not left:
            return
        for task in left:
            task.cancel()
        await asyncio.wait(left, timeout=0.25)


LEFTOVER_CANCEL_ROUNDS = 40  # 10 s at most


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("asyncio") is not None:
            item.fixturenames.insert(0, "_no_task_left_behind")


def pytest_unconfigure(config):
    """Django removes its SQLite test database at the end, but not the WAL and shared-memory files
    beside it (threads' connections may still hold them): remove those too, once the file is gone."""
    from pathlib import Path

    from django.conf import settings

    if not settings.configured or settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        return
    name = Path(settings.DATABASES["default"].get("TEST", {}).get("NAME") or "")
    if name.name and not name.exists():
        for suffix in ("-wal", "-shm"):
            Path(f"{name}{suffix}").unlink(missing_ok=True)
