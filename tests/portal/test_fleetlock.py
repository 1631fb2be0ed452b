"""Fleet locks (portal.fleetlock) on real Redis: one holder per name, renewed by its holder,
lost when another process holds it (the loser is told); granted at once without Redis."""

import uuid

import pytest
import redis
from django.conf import settings as django_settings

from portal import fleetlock


@pytest.fixture
def name():
    if not django_settings.REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL): the lock lives there; `make test-postgres` sets it")
    name = f"test:{uuid.uuid4().hex}"
    yield name
    fleetlock.release(name)


def _redis():
    return redis.Redis.from_url(django_settings.REDIS_URL)


@pytest.mark.postgres
def test_a_lock_another_process_holds_is_refused_until_it_lapses(name):
    _redis().set(fleetlock.PREFIX + name, "other-host/1/abc", px=60_000)
    assert not fleetlock.acquire(name, lambda: None)
    assert fleetlock.holder(name) == "other-host/1/abc"
    _redis().delete(fleetlock.PREFIX + name)  # as if its TTL ran out
    assert fleetlock.acquire(name, lambda: None)
    assert fleetlock.holder(name) == fleetlock.me() and name in fleetlock.held()


@pytest.mark.postgres
def test_renewal_extends_the_lock_and_a_stolen_lock_is_given_up(name):
    lost = []
    assert fleetlock.acquire(name, lambda: lost.append(name))
    _redis().pexpire(fleetlock.PREFIX + name, 500)
    assert name not in fleetlock.renew_all()  # (other tests' locks may go: their cache.clear() flushes Redis)
    assert _redis().pttl(fleetlock.PREFIX + name) > 1000
    _redis().set(fleetlock.PREFIX + name, "other-host/2/def")  # taken over while we stalled
    assert name in fleetlock.renew_all()
    assert lost == [name] and name not in fleetlock.held()
    assert fleetlock.holder(name) == "other-host/2/def"  # ours to lose, never to delete


@pytest.mark.postgres
def test_release_leaves_another_holders_lock_alone(name):
    _redis().set(fleetlock.PREFIX + name, "other-host/3/ghi", px=60_000)
    fleetlock.release(name)
    assert fleetlock.holder(name) == "other-host/3/ghi"
    _redis().delete(fleetlock.PREFIX + name)


def test_without_redis_every_lock_is_granted(settings):
    settings.REDIS_URL = ""
    assert fleetlock.acquire("embedded:lock", lambda: None)
    assert fleetlock.holder("embedded:lock") == fleetlock.me()
    fleetlock.release("embedded:lock")
