"""A broker connection lost while kombu closes its channel does not end the worker: putting the
unacknowledged messages back, once the connection's details are gone, is logged, not raised
(kombu 5.7 raised AttributeError there and Celery exited with "Unrecoverable error")."""

import socket

import pytest
from kombu import Connection

from portal import kombu_fix  # noqa: F401 - the patch under test

REDIS = ("127.0.0.1", 6379)


def redis_listens():
    try:
        socket.create_connection(REDIS, timeout=2).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not redis_listens(), reason="needs a Redis on 127.0.0.1:6379 for kombu's channel")
def test_restoring_unacked_messages_after_the_connection_is_gone_is_logged_not_raised(caplog):
    with Connection(f"redis://{REDIS[0]}:{REDIS[1]}/9") as connection:
        channel = connection.channel()
        qos = channel.qos
        qos._delivered["tag-1"] = object()
        channel._pool = None
        channel.connection.client = None  # what kombu finds once the broker connection was released
        assert qos.restore_unacked() is None
        assert not qos._delivered
    assert "could not put 1 unacknowledged message(s) back" in caplog.text
