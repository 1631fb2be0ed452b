"""A worker must outlive a broker restart. kombu 5.7's Redis transport, once the connection to
Redis has broken and its channel is closed, still acts on that channel: it puts the delivered,
unacknowledged messages back while closing, and a task that finishes afterwards acknowledges its
message (acks_late). Both build a client from the closed channel's connection details, which are
gone by then, and raised AttributeError ('NoneType' object has no attribute 'hostname' /
'client'): not a connection error to Celery, so "Unrecoverable error" and the worker process
exited (seen on the fleet when its Redis restarted: every later task stayed queued). Here a
closed channel's connection details raise redis' ConnectionError instead, which kombu and Celery
already handle as a broker outage (the close goes on, the ack is logged as failed, the consumer
reconnects). Nothing is lost to Nubes: a restarted Redis has lost those messages anyway, and the
portal's reaper re-sends a task nobody claimed (portal.tasks)."""

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

_connparams = kombu_redis.Channel._connparams


def connparams(self, *args, **kwargs):
    if self.connection is None or self.connection.client is None:
        raise RedisConnectionError("the broker connection is closed (its channel was closed after Redis went away)")
    return _connparams(self, *args, **kwargs)


kombu_redis.Channel._connparams = connparams
