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
