"""Django for a benchmark, set up when this module is first imported: a fresh SQLite file in a
temporary directory (DATA_DIR), migrated, Celery eager. Benchmarks import it before anything
Django (ruff's isort keeps it in a section of its own, right after the standard library), so
they import models at their top like any module. Environment a benchmark chooses (REDIS_URL for
a cross-thread channel layer, an OVN endpoint) is set before importing it. With
NUBES_BENCH_DATABASE_URL (postgres://user@host:port/any) the database is a throwaway one on that
PostgreSQL server instead (nubes_bench_<random>, dropped at exit)."""

import atexit
import os
import sys
import tempfile
import uuid
from pathlib import Path

import django
import psycopg
from django.db import connections

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = tempfile.mkdtemp(prefix="nubes-bench-")
os.environ["NUBES_DATA_DIR"] = DATA_DIR
os.environ.pop("DATABASE_URL", None)


def _throwaway_postgres(server_url):
    """A new database on the server of server_url, dropped when the benchmark exits."""
    base, _, _ = server_url.rpartition("/")
    name = f"nubes_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        connections.close_all()
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    atexit.register(drop)
    return f"{base}/{name}"


if os.environ.get("NUBES_BENCH_DATABASE_URL"):
    os.environ["DATABASE_URL"] = _throwaway_postgres(os.environ["NUBES_BENCH_DATABASE_URL"])
os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
sys.path.insert(0, str(ROOT))
django.setup()

# After the path and setup above: the project's modules and a migrated database.
from django.core.management import call_command  # noqa: E402

from portal.celery import app  # noqa: E402

call_command("migrate", verbosity=0)
app.conf.task_always_eager = True
