"""Lifecycle events are followed once per fleet: of two processes asking to watch one host,
one does (a fleet lock in Redis); SIGKILL it (by PID) and the other takes the watch over once
the lock's TTL lapses. Real processes, real Redis, libvirt's test driver."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings

from portal import fleetlock

TTL_S = int(os.environ.get("NUBES_FAULTS_TTL", "3"))  # NUBES_FAULTS_TTL=30: the production default
ROOT = Path(__file__).resolve().parents[2]
URI = f"test://{ROOT / 'hypervisor' / 'nodes' / 'host-b.xml'}"
START_TIMEOUT_S = 90


def _lines(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def _wait(what, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.2)
    return None


@pytest.mark.postgres
def test_one_process_follows_a_host_and_another_takes_over_when_it_dies(tmp_path):
    if not django_settings.REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL): the lock lives there; the embedded default is one process anyway")
    redis.Redis.from_url(django_settings.REDIS_URL).delete(fleetlock.PREFIX + f"watch:{URI}")
    env = {**os.environ, "NUBES_FLEET_LOCK_TTL": str(TTL_S), "NUBES_DATA_DIR": str(tmp_path)}
    procs = {}
    try:
        for name in ("first", "second"):
            out = open(tmp_path / f"{name}.jsonl", "w")  # noqa: SIM115 - closed below
            command = [sys.executable, "-m", "tests.faults.watch_holder", URI, "120"]
            procs[name] = (subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT), out)
        both_up = _wait(lambda: all(_lines(tmp_path / f"{n}.jsonl") for n in procs), START_TIMEOUT_S)
        assert both_up, "the processes did not start"
        time.sleep(1)  # a few rounds each
        last = {n: _lines(tmp_path / f"{n}.jsonl")[-1] for n in procs}
        watching = [n for n in procs if last[n]["watching"]]
        assert len(watching) == 1, last  # exactly one follows the host
        owner, other = watching[0], next(n for n in procs if n not in watching)
        assert (
            redis.Redis.from_url(django_settings.REDIS_URL).get(fleetlock.PREFIX + f"watch:{URI}").decode()
            == (last[owner]["me"])
        )

        os.kill(procs[owner][0].pid, signal.SIGKILL)
        procs[owner][0].wait(10)
        killed = time.time()
        took_over = _wait(
            lambda: next((line for line in _lines(tmp_path / f"{other}.jsonl") if line["watching"]), None),
            10 * TTL_S,
        )
        assert took_over is not None, "the survivor never took the watch over"
        print(f"\nholder killed -> survivor follows the host: {took_over['t'] - killed:.1f} s (TTL {TTL_S} s)")
    finally:
        for proc, out in procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
            out.close()
