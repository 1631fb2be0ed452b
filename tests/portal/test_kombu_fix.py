"""A broker connection lost while kombu closes its channel does not end the worker: acting on the
closed channel (putting unacknowledged messages back, acknowledging a finished task's message) is
a connection error kombu and Celery handle, not the AttributeError of kombu 5.7, after which
Celery exited with "Unrecoverable error"."""

import socket

import pytest
from kombu import Connection
from redis.exceptions import ConnectionError as RedisConnectionError

from portal import kombu_fix  # noqa: F401 - the patch under test

REDIS = ("127.0.0.1", 6379)


def redis_listens():
    try:
        socket.create_connection(REDIS, timeout=2).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not redis_listens(), reason="needs a Redis on 127.0.0.1:6379 for kombu's channel")
@pytest.mark.parametrize("gone", ["client", "connection"])
def test_acting_on_a_channel_whose_connection_is_gone_is_a_connection_error(gone):
    with Connection(f"redis://{REDIS[0]}:{REDIS[1]}/9") as connection:
        channel = connection.channel()
        qos = channel.qos
        qos._delivered["tag-1"] = object()
        channel._pool = None
        if gone == "client":
            channel.connection.client = None  # the broker connection was released
        else:
            channel.connection = None  # the channel was closed
        with pytest.raises(RedisConnectionError):
            qos.restore_unacked()
        qos._delivered.clear()  # nothing left for the connection's own close to put back
        assert isinstance(RedisConnectionError("x"), tuple(connection.connection_errors))
