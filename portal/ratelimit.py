"""Counting failed logins per client address and username in the cache."""

from django.conf import settings
from django.core.cache import cache


def _key(ip, username):
    return f"login-fail:{ip}:{(username or '').lower()[:150]}"


def blocked(ip, username):
    return cache.get(_key(ip, username), 0) >= settings.LOGIN_RATE_LIMIT


def note_failure(ip, username):
    key = _key(ip, username)
    if cache.add(key, 1, settings.LOGIN_RATE_WINDOW):
        return
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, settings.LOGIN_RATE_WINDOW)


def clear(ip, username):
    cache.delete(_key(ip, username))
