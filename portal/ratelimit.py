"""Counting failed logins per client address and username in the cache. The username is
normalised exactly as sign-in normalises it (Django's UsernameField: surrounding whitespace
stripped, NFKC; case kept, as ModelBackend's lookup is case-sensitive), so "bob ", " bob" and
"\tbob" spend bob's budget, and a locked bob stays locked however the name is padded."""

import hashlib

from django.conf import settings
from django.contrib.auth.forms import UsernameField
from django.core.cache import cache


def normalise(username):
    return UsernameField().to_python(username or "")


def _key(ip, username):
    # hashed: any text fits a cache key (memcached refuses spaces and control characters)
    name = hashlib.sha256(normalise(username).encode()).hexdigest()
    return f"login-fail:{ip}:{name}"


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
