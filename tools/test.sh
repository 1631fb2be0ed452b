#!/usr/bin/env bash
# `make test`: the whole suite. As root on a machine where the lab is not up, it brings the lab up
# for the integration tier and then the fleet for its tier, and takes down what it started (and
# only that) at the end. A lab already up (a developer's, or CI's) is used as it is and left up.
# NUBES_TEST_NO_LAB=1 skips bringing anything up (the lab tiers then skip, saying why).
# With the lab, the tests that do not use it run first and the lab tier after, alone: its
# guests (TCG) are timing-sensitive. NUBES_TEST_BESIDE (CI: `make test-postgres`) is a command
# run beside the first part only, niced, its output in var/test-beside.log.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
started_lab=0 started_fleet=0 beside_pid=""
finish() {
    [ -n "$beside_pid" ] && kill -- -"$beside_pid" 2>/dev/null  # its process group (setsid)
    [ "$started_fleet" = 1 ] && { lab/fleet-down.sh > var/test-fleet-down.log 2>&1 || echo "fleet-down failed: var/test-fleet-down.log"; }
    [ "$started_lab" = 1 ] && { lab/down.sh > var/test-lab-down.log 2>&1 || echo "lab/down.sh failed: var/test-lab-down.log"; }
}
trap finish EXIT
mkdir -p var
worst() { for code in "$@"; do [ "$code" = 0 ] || [ "$code" = 5 ] || { echo "$code"; return; }; done; echo 0; }

if [ "$(id -u)" = 0 ] && [ ! -s lab/state/lab.json ] && [ -z "${NUBES_TEST_NO_LAB:-}" ]; then
    echo "== the lab is not up: bringing it up for the integration tier (lab/up.sh; var/test-lab-up.log)"
    if lab/up.sh > var/test-lab-up.log 2>&1; then started_lab=1; else
        echo "lab/up.sh failed; the integration tier will say so. Last lines:"; tail -20 var/test-lab-up.log
    fi
fi

if [ ! -s lab/state/lab.json ]; then
    [ -n "${NUBES_TEST_BESIDE:-}" ] && echo "NUBES_TEST_BESIDE is for a run with the lab; run it on its own"
    exec $PY -m pytest "$@"
fi

if [ -n "${NUBES_TEST_BESIDE:-}" ]; then
    echo "== beside the tests that do not use the lab: $NUBES_TEST_BESIDE (niced; var/test-beside.log)"
    setsid nice -n 10 bash -c "$NUBES_TEST_BESIDE" > var/test-beside.log 2>&1 &
    beside_pid=$!
fi
echo "== the tests that do not use the lab"
$PY -m pytest -m "not integration and not fleet" "$@"; rc_first=$?
rc_beside=0
if [ -n "$beside_pid" ]; then
    wait "$beside_pid"; rc_beside=$?; beside_pid=""
    echo "== $NUBES_TEST_BESIDE ended (exit $rc_beside); the end of its output (all of it: var/test-beside.log):"
    tail -40 var/test-beside.log
fi
echo "== the lab tier (the real daemons; alone)"
$PY -m pytest -m "integration and not fleet" "$@"; rc_lab=$?
rc=$(worst "$rc_first" "$rc_beside" "$rc_lab")

if [ "$started_lab" = 1 ]; then
    # The fleet comes after the lab tier, not beside it (its beat would watch the lab tier's guests).
    echo "== the fleet (the production recipe on the lab) and its tier"
    if lab/fleet-up.sh > var/test-fleet-up.log 2>&1; then
        started_fleet=1
        $PY -m pytest tests/fleet --durations=5 "$@"; frc=$?
        rc=$(worst "$rc" "$frc")
    else
        echo "lab/fleet-up.sh failed. Last lines:"; tail -20 var/test-fleet-up.log; rc=1
    fi
fi
exit "$rc"
