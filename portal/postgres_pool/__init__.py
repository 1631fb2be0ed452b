"""PostgreSQL with Django's connection pool, recovering at once from a server restart (base.py).
This module stays light: the settings import it (portal/env.py `pooled`)."""

import logging

log = logging.getLogger(__name__)
UNREACHABLE = set()  # names of the pools whose last attempt to connect failed


def unreachable(pool):
    """psycopg_pool's reconnect_failed: a connection could not be made (the server is down)."""
    log.warning("database pool %s: could not connect; each request tries the server first", pool.name)
    UNREACHABLE.add(pool.name)
