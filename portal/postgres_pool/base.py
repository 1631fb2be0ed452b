"""Django's PostgreSQL backend with its psycopg pool (NUBES_DB_POOL, portal/env.py `pooled`),
recovering at once when the server restarts.

A restart leaves every pooled connection dead. psycopg_pool's own check, as Django passes it,
finds them one `getconn` at a time and sleeps 1 s, 2 s, ... between them; the replacements it
then makes in the background back off the same way (for up to 5 minutes) while still counted
against the pool's size, so after the restart the pool served from one connection for seconds
and requests timed out (the fleet's PostgreSQL-restart test, session 8). Here instead:

- each connection is checked as it is handed out (one empty statement); a dead one is returned
  (the pool replaces it) and every other idle one checked at once (`ConnectionPool.check`);
- the server is then asked for a connection directly: refused, the request fails at once (503
  with Retry-After, portal/errors.py) instead of waiting out the pool's timeout; accepted, the
  pool's next connection is live;
- the pool does not retry a connection it could not make (`reconnect_timeout` 0): it marks
  itself unreachable and shrinks, and grows again as requests ask, each request first trying
  the server as above while it is marked."""

import logging

from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool

from portal.postgres_pool import UNREACHABLE

log = logging.getLogger(__name__)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        pool = self.pool
        if pool is None:
            return super().get_new_connection(conn_params)
        if pool.name in UNREACHABLE:
            self.try_the_server(pool, conn_params)
        for _ in range(pool.max_size):  # the dead ones in use now come back one by one
            connection = super().get_new_connection(conn_params)
            if usable(connection):
                return connection
            log.warning("database pool %s: a dead connection (the server restarted?): checking all", pool.name)
            pool.putconn(connection)  # broken: the pool makes another
            pool.check()  # the other idle ones, dead or alive, at once
            self.try_the_server(pool, conn_params)
        return super().get_new_connection(conn_params)

    def try_the_server(self, pool, conn_params):
        """A connection made and closed, outside the pool: refused, the pool is marked
        unreachable and the request fails now rather than wait out the pool's timeout."""
        try:
            self.Database.connect(**conn_params).close()
        except self.Database.Error:
            UNREACHABLE.add(pool.name)
            raise
        UNREACHABLE.discard(pool.name)


def usable(connection):
    """Whether the server still answers on this connection (one empty statement)."""
    try:
        ConnectionPool.check_connection(connection)
    except base.Database.Error:
        return False
    return True
