"""Named locks that one process holds across the fleet (e.g. "follow host X's lifecycle
events"), in Redis with a TTL. The holder renews every lock it holds from one thread every third
of the TTL; a holder that dies stops renewing, the lock lapses and the next process to ask takes
it over (failover within TTL + the asker's period). Without Redis (the embedded default: one
process) every lock is granted."""

import logging
import os
import socket
import threading
import uuid

from django.conf import settings

log = logging.getLogger(__name__)
PREFIX = "nubes:fleetlock:"
# Renew only what is still ours; compare and extend in one step.
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"

_state = {"pid": None, "token": "", "client": None, "thread": None}
_held = {}  # name -> on_lost()
_guard = threading.Lock()


def _fresh():
    """Per process state (a forked worker child starts with none of its parent's locks)."""
    if _state["pid"] != os.getpid():
        _state.update(pid=os.getpid(), token=f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}")
        _state.update(client=None, thread=None)
        _held.clear()
    return _state


def _client():
    state = _fresh()
    if not settings.REDIS_URL:
        return None
    if state["client"] is None or state.get("url") != settings.REDIS_URL:
        import redis  # only with a Redis URL: the embedded default runs without a Redis server

        timeout = max(1.0, ttl() / 3)
        state["client"] = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        state["url"] = settings.REDIS_URL
    return state["client"]


def ttl():
    return settings.NUBES_FLEET_LOCK_TTL


def me():
    return _fresh()["token"]


def holder(name):
    """Who holds the lock now (their token), or None."""
    client = _client()
    if client is None:
        return me() if name in _held else None
    value = client.get(PREFIX + name)
    return value.decode() if value else None


def acquire(name, on_lost):
    """Take the lock unless another process holds it; True when this process holds it (now
    or already). on_lost() runs, on the renewal thread, if this process loses it later."""
    with _guard:
        client = _client()
        if name in _held:
            return True
        if client is not None and not client.set(PREFIX + name, me(), nx=True, px=int(ttl() * 1000)):
            return False
        _held[name] = on_lost
        _start_renewing()
        return True


def release(name):
    with _guard:
        _held.pop(name, None)
        client = _client()
        if client is not None:
            client.eval(_RELEASE, 1, PREFIX + name, me())


def held():
    return sorted(_held)


def _start_renewing():
    state = _state
    if state["thread"] is None and _client() is not None:
        state["thread"] = threading.Thread(target=_renew_forever, args=(os.getpid(),), name="fleetlock", daemon=True)
        state["thread"].start()


def _renew_forever(pid):
    stop = threading.Event()
    while not stop.wait(ttl() / 3) and os.getpid() == pid:
        renew_all()


def renew_all():
    """Extend every lock this process holds; the lost ones are dropped and their on_lost runs."""
    client = _client()
    if client is None:
        return []
    lost = []
    with _guard:
        for name in list(_held):
            try:
                kept = client.eval(_RENEW, 1, PREFIX + name, me(), int(ttl() * 1000))
            except Exception as exc:  # noqa: BLE001 - Redis unreachable: keep trying until the TTL says otherwise
                log.warning("fleet lock %s: renewal failed: %s", name, exc)
                continue
            if not kept:
                lost.append((name, _held.pop(name)))
    for name, on_lost in lost:
        log.warning("fleet lock %s lost to another process", name)
        try:
            on_lost()
        except Exception:  # noqa: BLE001 - the loser's clean-up must not stop the renewals
            log.exception("fleet lock %s: on_lost failed", name)
    return [name for name, _ in lost]
