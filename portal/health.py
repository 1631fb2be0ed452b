"""/healthz: the process answers. /readyz: database, broker and channel layer answer."""

import os

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import DatabaseError, connection
from django.http import JsonResponse
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from portal.celery import app as celery_app


def healthz(request):
    # The process id tells which of a server's worker processes answered.
    return JsonResponse({"status": "ok", "process": os.getpid()})


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _broker():
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def _channel_layer():
    layer = get_channel_layer()
    async_to_sync(layer.send)("readyz.probe", {"type": "probe"})


CHECKS = {"database": _database, "broker": _broker, "channel_layer": _channel_layer}
FAILURES = (DatabaseError, BrokerError, RedisError, OSError, TimeoutError)


def readyz(request):
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except FAILURES as exc:
            results[name] = f"error: {exc}"
    ready = all(value == "ok" for value in results.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": results}, status=200 if ready else 503)
