"""The guest's replication-allow and replication-revoke scripts run for real against a throwaway
PostgreSQL cluster of this machine's (initdb in a temporary directory, a Unix socket only; the
scripts reach it through PGHOST/PGPORT, as they reach the guest's own server): the line, role and
slot made, made once when run again, a copy streamed through the slot with pg_basebackup -S -R
(as replica-setup does), then the line and slot removed and the role dropped with the last
replica. Needs root (the scripts run psql as the postgres user) and PostgreSQL's server binaries."""

import glob
import json
import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from django.conf import settings

AGENT = Path(settings.BASE_DIR) / "lab" / "service-guest" / "nubes-agent"
ROLE = "nubes_replicator"


def _bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres(*argv, **kwargs):
    return subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def cluster():
    bindir = _bin()
    if os.geteuid() != 0 or bindir is None or shutil.which("runuser") is None:
        pytest.skip("needs root, runuser and PostgreSQL's initdb (/usr/lib/postgresql/*/bin) to run the scripts")
    top = tempfile.mkdtemp(prefix="nubes-pg-scripts-")
    shutil.chown(top, "postgres", "postgres")
    data, port = f"{top}/data", str(random.randint(40000, 60000))
    done = _as_postgres(str(bindir / "initdb"), "-D", data, "-A", "trust", "-U", "postgres")
    assert done.returncode == 0, done.stderr
    options = f"-k {top} -p {port} -c listen_addresses='' -c wal_level=replica"
    done = _as_postgres(str(bindir / "pg_ctl"), "-D", data, "-o", options, "-l", f"{top}/log", "-w", "start")
    assert done.returncode == 0, done.stderr + Path(f"{top}/log").read_text()
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PGHOST": top, "PGPORT": port, "PYTHONPATH": str(AGENT)}
    try:
        yield {"env": env, "top": top, "bin": bindir, "data": data}
    finally:
        _as_postgres(str(bindir / "pg_ctl"), "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(top, ignore_errors=True)


def script(cluster, name, arguments):
    done = subprocess.run(
        ["python3", str(AGENT / name)], input=json.dumps(arguments), capture_output=True, text=True,
        env=cluster["env"], timeout=120,
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout or "{}")


def sql(cluster, query):
    done = _as_postgres("psql", "-X", "-A", "-t", "-d", "postgres", "-c", query, env=cluster["env"])
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def hba_lines(cluster):
    path = sql(cluster, "SHOW hba_file;")
    return [line for line in Path(path).read_text().splitlines() if line.startswith(f"host replication {ROLE} ")]


def test_allow_then_revoke_for_real(cluster):
    password = "a-long-replication-secret"
    code, out = script(cluster, "replication-allow", {"address": "10.9.0.5", "password": password, "slot": "s_a"})
    assert code == 0 and out == {"role": ROLE, "address": "10.9.0.5/32", "slot": "s_a"}, out
    # Run again (a retried build): nothing made twice. Without a slot the answer is as before.
    assert script(cluster, "replication-allow", {"address": "10.9.0.5", "password": password, "slot": "s_a"})[0] == 0
    code, out = script(cluster, "replication-allow", {"address": "10.9.0.6", "password": password})
    assert code == 0 and out == {"role": ROLE, "address": "10.9.0.6/32"}
    assert script(cluster, "replication-allow", {"address": "10.9.0.6", "password": password, "slot": "s_b"})[0] == 0
    assert hba_lines(cluster) == [
        f"host replication {ROLE} 10.9.0.5/32 scram-sha-256",
        f"host replication {ROLE} 10.9.0.6/32 scram-sha-256",
    ]
    # Reserved at once: the primary keeps WAL from now on for a replica not connected yet.
    slots = sql(cluster, "SELECT slot_name, slot_type, restart_lsn IS NOT NULL FROM pg_replication_slots ORDER BY 1;")
    assert slots.splitlines() == ["s_a|physical|t", "s_b|physical|t"]

    # What replica-setup runs: a copy through the slot; -R writes the slot into the copy's settings.
    copy = f"{cluster['top']}/copy"
    done = _as_postgres(
        str(cluster["bin"] / "pg_basebackup"), "-h", cluster["env"]["PGHOST"], "-p", cluster["env"]["PGPORT"],
        "-U", ROLE, "-D", copy, "-R", "-X", "stream", "-c", "fast", "-w", "-S", "s_a", env=cluster["env"],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "primary_slot_name = 's_a'" in _as_postgres("cat", f"{copy}/postgresql.auto.conf").stdout

    code, out = script(cluster, "replication-revoke", {"address": "10.9.0.5", "slot": "s_a"})
    assert code == 0 and out == {
        "address": "10.9.0.5/32",
        "hba_removed": True,
        "slot_dropped": True,
        "role_dropped": False,
    }, out
    assert hba_lines(cluster) == [f"host replication {ROLE} 10.9.0.6/32 scram-sha-256"]
    assert sql(cluster, "SELECT string_agg(slot_name, ',') FROM pg_replication_slots;") == "s_b"
    # Again: nothing left to remove.
    code, out = script(cluster, "replication-revoke", {"address": "10.9.0.5", "slot": "s_a"})
    assert code == 0 and not (out["hba_removed"] or out["slot_dropped"] or out["role_dropped"]), out
    # The last replica: the role goes too.
    code, out = script(cluster, "replication-revoke", {"address": "10.9.0.6", "slot": "s_b"})
    assert code == 0 and out["role_dropped"] is True and out["slot_dropped"] is True, out
    assert hba_lines(cluster) == [] and sql(cluster, f"SELECT count(*) FROM pg_roles WHERE rolname = '{ROLE}';") == "0"
    assert sql(cluster, "SELECT count(*) FROM pg_replication_slots;") == "0"


@pytest.mark.parametrize(
    "name, arguments",
    [
        ("replication-revoke", {"address": "10.9.0.5", "slot": "x'; DROP ROLE postgres; --"}),
        ("replication-revoke", {"address": "10.9.0.0/24"}),
        ("replication-revoke", {"address": "10.9.0.5", "extra": 1}),
        ("replication-allow", {"address": "10.9.0.5", "password": "a-long-secret", "slot": "Bad-Slot"}),
    ],
)
def test_bad_arguments_exit_2_and_change_nothing(cluster, name, arguments):
    before = hba_lines(cluster)
    code, out = script(cluster, name, arguments)
    assert code == 2 and out["error"], out
    assert hba_lines(cluster) == before
