"""A worker must outlive a broker restart. kombu 5.7's Redis transport, when the connection to
Redis breaks, closes its channel and, while doing so, puts the messages it had delivered but not
yet acknowledged back on the queue; by then the connection's details are already gone, so that
raised AttributeError ('NoneType' object has no attribute 'hostname'), which Celery's consumer
does not take for a connection error: "Unrecoverable error", and the worker process exited (seen
on the fleet when its Redis restarted: every later task stayed queued). Here that one failure is
logged and the close goes on; the consumer then reconnects as for any broker outage. The messages
are not lost to Nubes: a Redis that restarted has lost them anyway, and the portal's reaper
re-sends a task nobody claimed (portal.tasks)."""

import logging

from kombu.transport import redis as kombu_redis

logger = logging.getLogger(__name__)
_restore_unacked = kombu_redis.QoS.restore_unacked


def restore_unacked(self, client=None):
    try:
        return _restore_unacked(self, client)
    except AttributeError as exc:
        logger.warning("could not put %d unacknowledged message(s) back: the broker connection is gone (%s)",
                       len(self._delivered), exc)  # fmt: skip
        self._delivered.clear()
        return None


kombu_redis.QoS.restore_unacked = restore_unacked
