"""Riding out a database restart in long-lived processes (Celery workers, their lease threads).

Django reconnects only when a request or task starts; a connection the server dropped mid-task
(PostgreSQL restarted, a failover) stays broken, and every later query of that task fails. Writes
that may simply be repeated (an Operation's fields, a lease renewal) go through `retrying`: on a
lost connection outside a transaction it closes the connection, so the next try opens a new one,
and tries again until the database is back or the window (the lease: past it the reaper has
taken the Operation anyway) runs out."""

import logging
import time
from contextlib import contextmanager

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

log = logging.getLogger(__name__)
LOST = (OperationalError, InterfaceError)
FIRST_PAUSE_S, LONGEST_PAUSE_S = 0.2, 2.0


def drop_if_broken():
    """Close this thread's connection when it no longer works, so the next query reconnects."""
    if connection.connection is not None and not connection.in_atomic_block and not connection.is_usable():
        connection.close()


def retrying(write, within=None):
    """write() -> its result; on a lost connection outside a transaction, again with a new
    connection every 0.2-2 s for at most `within` seconds (default: the Operation lease)."""
    window = settings.NUBES_OPERATION_LEASE if within is None else within
    deadline, pause = time.monotonic() + window, FIRST_PAUSE_S
    while True:
        try:
            return write()
        except LOST as exc:
            if connection.in_atomic_block or time.monotonic() + pause > deadline:
                raise
            log.warning("database connection lost (%s); reconnecting in %.1f s", exc, pause)
            connection.close()
            time.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE_S)


@contextmanager
def riding_out_restarts():
    """For the block (a task's work): a statement that finds this thread's connection dropped
    by the server, outside a transaction, is sent again on a new connection (retrying within the
    lease) instead of failing the task. A statement the server ran just before the connection
    broke could run twice; the writes of tasks set fields, so that is harmless."""
    with connection.execute_wrapper(_again_on_a_new_connection):
        yield


def _again_on_a_new_connection(execute, sql, params, many, context):
    try:
        return execute(sql, params, many, context)
    except LOST:
        if connection.in_atomic_block:
            raise
        wrapper = context["cursor"]

        def again():
            connection.close()
            connection.ensure_connection()
            wrapper.cursor = connection.create_cursor()  # the caller reads its results from this wrapper
            return execute(sql, params, many, context)

        return retrying(again)
