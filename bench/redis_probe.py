"""Is a Redis server answering where the benchmarks look for one (127.0.0.1:6379)? Plain Python,
so a benchmark can ask before it sets Django up (bench/migration.py picks its channel layer so)."""

import socket

REDIS = ("127.0.0.1", 6379)


def redis_up():
    try:
        with socket.create_connection(REDIS, timeout=1):
            return True
    except OSError:
        return False
