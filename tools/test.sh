#!/usr/bin/env bash
# `make test`: the whole suite. As root on a machine where the lab is not up, it brings the lab up
# for the integration tier and then the fleet for its tier, and takes down what it started (and
# only that) at the end. A lab already up (a developer's, or CI's) is used as it is and left up.
# NUBES_TEST_NO_LAB=1 skips bringing anything up (the lab tiers then skip, saying why).
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
started_lab=0 started_fleet=0
beside_pid=""
finish() {
    [ -n "$beside_pid" ] && kill -- -"$beside_pid" 2>/dev/null  # its process group (setsid)
    [ "$started_fleet" = 1 ] && { lab/fleet-down.sh > var/test-fleet-down.log 2>&1 || echo "fleet-down failed: var/test-fleet-down.log"; }
    [ "$started_lab" = 1 ] && { lab/down.sh > var/test-lab-down.log 2>&1 || echo "lab/down.sh failed: var/test-lab-down.log"; }
}
trap finish EXIT
mkdir -p var

lab_failed=""
if [ "$(id -u)" = 0 ] && [ ! -s lab/state/lab.json ] && [ -z "${NUBES_TEST_NO_LAB:-}" ]; then
    echo "== the lab is not up: bringing it up for the integration tier (lab/up.sh; var/test-lab-up.log)"
    # A failed start is taken down (lab/down.sh removes only what up.sh recorded) and tried once
    # more; a second failure fails the run, and its log's end is printed again at the very end.
    for try in 1 2; do
        if lab/up.sh > var/test-lab-up.log 2>&1; then started_lab=1; break; fi
        cp var/test-lab-up.log "var/test-lab-up-failed-$try.log"
        echo "lab/up.sh failed (try $try of 2; var/test-lab-up-failed-$try.log). Last lines:"
        tail -20 var/test-lab-up.log
        lab/down.sh > "var/test-lab-down-failed-$try.log" 2>&1 || echo "lab/down.sh after it failed too"
    done
    [ "$started_lab" = 1 ] || lab_failed=1
fi
lab_failure() {  # where a run's tail shows it
    [ -n "$lab_failed" ] || return 0
    echo "== lab/up.sh failed twice: the integration and fleet tiers did not run. The end of its last log:"
    tail -40 var/test-lab-up-failed-2.log
}

# Tests marked postgres need PostgreSQL or Redis (races SQLite cannot have, a lock or a channel
# layer in Redis): a pass of their own on the machine's, with their own database, Redis db and
# data directory (CI's `make test-postgres` runs beside with others). Without both they run on the
# embedded default and skip, saying why.
services_pass() {
    local db="${NUBES_TEST_SERVICES_DB:-postgres://postgres@127.0.0.1:5432/nubes_services}"
    local redis="${NUBES_TEST_SERVICES_REDIS:-redis://127.0.0.1:6379/12}"
    echo "== tests that need PostgreSQL or Redis (marked postgres)"
    if (exec 3<>/dev/tcp/127.0.0.1/5432 && exec 4<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
        DATABASE_URL="$db" REDIS_URL="$redis" NUBES_DATA_DIR="$PWD/var/test-services" $PY -m pytest -m postgres "$@"
    else
        echo "no PostgreSQL on 127.0.0.1:5432 or no Redis on 127.0.0.1:6379: these skip, saying why"
        $PY -m pytest -m postgres "$@"
    fi
}

if [ "$started_lab" = 1 ]; then
    # What needs no lab (unit, API, browser, the real OpenStack clients) runs beside the lab tier
    # and the fleet's, niced (the lab's guests are libvirtd's children and keep their priority):
    # one after the other the suite took 39 of CI's 60 minutes, 26 of them these tests (the
    # clients alone 10 min, mostly waiting on their own 5 s status polls). Its own data directory;
    # Django's test database is a file per process already.
    echo "== the tests that need no lab start beside the lab tier; their output: var/test-beside.log"
    mkdir -p var/test-beside
    NUBES_DATA_DIR="$PWD/var/test-beside" setsid nice -n 10 $PY -m pytest -m "not integration and not fleet and not postgres" \
        --durations=25 "$@" > var/test-beside.log 2>&1 &
    beside_pid=$!
    # The fleet comes after the lab tier, not beside it (its beat would watch the lab tier's guests).
    $PY -m pytest -m "integration and not fleet and not postgres" --ignore=tests/lab/test_leftovers.py --durations=25 "$@"; rc=$?
    services_pass "$@"; src=$?
    [ "$rc" = 0 ] && rc=$src
    echo "== the fleet (the production recipe on the lab) and its tier"
    if lab/fleet-up.sh > var/test-fleet-up.log 2>&1; then
        started_fleet=1
        $PY -m pytest tests/fleet --durations=5 "$@"; frc=$?
        [ "$rc" = 0 ] && rc=$frc
    else
        echo "lab/fleet-up.sh failed. Last lines:"; tail -20 var/test-fleet-up.log; rc=1
    fi
    wait "$beside_pid"; brc=$?; beside_pid=""
    echo "== the tests that need no lab (ran beside; exit $brc):"; cat var/test-beside.log
    [ "$rc" = 0 ] && rc=$brc
    # Down again, then the check that a downed lab leaves nothing on the machine (it skips while
    # a lab is up, so it runs here, after the lab this script started is gone).
    finish; started_fleet=0 started_lab=0
    echo "== the lab is down: what it leaves on the machine"
    $PY -m pytest tests/lab/test_leftovers.py "$@"; lrc=$?
    [ "$rc" = 0 ] && rc=$lrc
    exit "$rc"
fi
$PY -m pytest -m "not postgres" "$@"; rc=$?
services_pass "$@"; src=$?
[ "$rc" = 0 ] && rc=$src
if [ -n "$lab_failed" ]; then lab_failure; rc=1; fi
exit "$rc"
