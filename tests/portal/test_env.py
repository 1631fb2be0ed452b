import pytest
from django.core.exceptions import ImproperlyConfigured

from portal import env


def test_it_reads_a_boolean(monkeypatch):
    monkeypatch.setenv("NUBES_X", "yes")
    assert env.env_bool("NUBES_X") is True


def test_it_rejects_a_word_that_is_not_a_boolean(monkeypatch):
    monkeypatch.setenv("NUBES_X", "maybe")
    with pytest.raises(ImproperlyConfigured, match="NUBES_X"):
        env.env_bool("NUBES_X")


def test_it_rejects_an_integer_below_its_minimum(monkeypatch):
    monkeypatch.setenv("NUBES_X", "-3")
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env.env_int("NUBES_X", 1, minimum=0)


def test_it_reads_a_secret_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "s"
    secret.write_text("from-file\n")
    monkeypatch.setenv("NUBES_X_FILE", str(secret))
    assert env.env_str("NUBES_X") == "from-file"


def test_it_generates_a_secret_key_once(monkeypatch, tmp_path):
    monkeypatch.delenv("NUBES_KEY", raising=False)
    first = env.secret_key("NUBES_KEY", tmp_path / "key")
    assert len(first) >= 40
    assert env.secret_key("NUBES_KEY", tmp_path / "key") == first
    assert (tmp_path / "key").stat().st_mode & 0o077 == 0


POSTGRES = {"ENGINE": "django.db.backends.postgresql", "NAME": "nubes", "CONN_MAX_AGE": 0, "OPTIONS": {}}


def test_a_pool_size_gives_postgresql_a_pool_of_that_many_connections_that_rides_out_restarts():
    database = env.pooled(POSTGRES, 20)
    pool = database["OPTIONS"]["pool"]
    assert {k: pool[k] for k in ("min_size", "max_size", "timeout", "reconnect_timeout")} == {
        "min_size": 1,
        "max_size": 20,
        "timeout": 10,
        "reconnect_timeout": 0,
    }
    # the backend checks each connection it hands out (tests/portal/test_db_pool_restart.py)
    assert database["ENGINE"] == "portal.postgres_pool" and database["CONN_HEALTH_CHECKS"] is False
    assert "pool" not in POSTGRES["OPTIONS"]


def test_no_pool_without_a_size_or_on_sqlite():
    assert env.pooled(POSTGRES, 0) == POSTGRES
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": "x", "CONN_MAX_AGE": 0}
    assert env.pooled(sqlite, 20) == sqlite


def test_a_pool_and_persistent_connections_exclude_each_other():
    with pytest.raises(ImproperlyConfigured, match="NUBES_DB_POOL and DB_CONN_MAX_AGE"):
        env.pooled({**POSTGRES, "CONN_MAX_AGE": 60}, 20)


def test_it_reads_gc_thresholds(monkeypatch):
    monkeypatch.setenv("NUBES_X", "50000, 20,100")
    assert env.gc_thresholds("NUBES_X") == (50000, 20, 100)
    monkeypatch.setenv("NUBES_X", "")
    assert env.gc_thresholds("NUBES_X") is None


@pytest.mark.parametrize("value", ["700,10,10,10", "700;10", "-1", "7e2", "700,,10"])
def test_it_rejects_bad_gc_thresholds(monkeypatch, value):
    monkeypatch.setenv("NUBES_X", value)
    with pytest.raises(ImproperlyConfigured, match="NUBES_X must be 1-3 comma-separated"):
        env.gc_thresholds("NUBES_X")


def test_the_web_entry_applies_gc_thresholds(monkeypatch):
    import gc
    import importlib

    import portal.asgi

    before = gc.get_threshold()
    monkeypatch.setenv("NUBES_GC_THRESHOLDS", "12345,6,7")
    try:
        importlib.reload(portal.asgi)
        assert gc.get_threshold() == (12345, 6, 7)
    finally:
        gc.set_threshold(*before)
