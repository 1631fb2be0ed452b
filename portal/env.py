"""Typed readers for settings that come from the environment.

Each reader raises ImproperlyConfigured with the variable's name on a bad value, so a typo
stops the process at start instead of surfacing as odd behaviour later. `NAME_FILE` may hold
a path whose content is the value (for secrets mounted as files).
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

from portal import postgres_pool

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def _raw(name):
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {exc}") from exc
    return os.environ.get(name)


def env_str(name, default=None):
    value = _raw(name)
    return default if value is None else value


def env_bool(name, default=False):
    value = _raw(name)
    if value is None:
        return default
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), not {value!r}")


def env_int(name, default, minimum=None, maximum=None):
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from exc
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, not {number}")
    return number


def env_float(name, default, minimum=None):
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from exc
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def env_list(name, default=()):
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def secret_key(name, key_file):
    """The secret key from the environment, else one generated once into `key_file`."""
    value = _raw(name)
    if value:
        return value
    key_file = Path(key_file)
    if key_file.exists():
        return key_file.read_text().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = get_random_secret_key()
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def pooled(database, max_size):
    """`database` (a DATABASES entry) drawing on a pool of at most max_size connections per
    process when it is PostgreSQL and max_size > 0; as it is otherwise. The backend
    (portal/postgres_pool) checks a connection as it hands it out and recovers at once from a
    server restart; a request waits at most 10 s for a free connection. Persistent connections
    (CONN_MAX_AGE) and a pool exclude each other."""
    if not max_size or database["ENGINE"] != "django.db.backends.postgresql":
        return database
    if database.get("CONN_MAX_AGE"):
        raise ImproperlyConfigured("NUBES_DB_POOL and DB_CONN_MAX_AGE exclude each other: set one of them")
    pool = {
        "min_size": 1,
        "max_size": max_size,
        "timeout": 10,
        # a connection that cannot be made is not retried in the background (backing off for up
        # to 5 min while counted in the pool): the pool shrinks and requests make it grow again
        "reconnect_timeout": 0,
        "reconnect_failed": postgres_pool.unreachable,
    }
    # CONN_HEALTH_CHECKS off: the backend checks each connection itself (the pool's check sleeps)
    return {
        **database,
        "ENGINE": "portal.postgres_pool",
        "CONN_HEALTH_CHECKS": False,
        "OPTIONS": {**database.get("OPTIONS", {}), "pool": pool},
    }


def gc_thresholds(name):
    """gc.set_threshold's arguments from "threshold0[,threshold1[,threshold2]]" (non-negative
    integers); None when unset or empty (Python's defaults stay)."""
    value = _raw(name)
    if value is None or not value.strip():
        return None
    parts = [part.strip() for part in value.split(",")]
    if len(parts) > 3 or not all(part.isdigit() for part in parts):
        raise ImproperlyConfigured(f"{name} must be 1-3 comma-separated non-negative integers, not {value!r}")
    return tuple(int(part) for part in parts)
