#!/bin/bash
# Stop or start one server under the fleet, for the fault tests (tests/fleet/test_faults.py):
#   redis | postgres   the fleet's own (lab/fleet-up.sh), by their pid files
#   ovn-nb | libvirtd-b  the lab's, by the PID lab/up.sh recorded, started again exactly as up.sh
#                      starts them (its new PID recorded the same way, and in lab.json). Only under the lab lock.
# stop: SIGTERM (SIGKILL after 10 s); kill: SIGKILL at once (a crash); start: as at bring-up.
set -euo pipefail
# The state directory by its real path: a daemon restarted here keeps its paths after the
# checkout that ran this is gone (a worktree's lab/state is a link to the lab's).
NUBES_LAB_STATE="${NUBES_LAB_STATE:-$(cd "$(dirname "$0")/state" && pwd -P)}"
export NUBES_LAB_STATE
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root"
[ $# = 2 ] || die "usage: $0 redis|postgres|ovn-nb|libvirtd-b stop|kill|start"
[ -s "$FLEET_JSON" ] || die "the fleet is not up ($FLEET_JSON absent)"
what="$1" verb="$2"

lab_recorded() {  # name: "pid exe" of its last start
    awk -v n="$1" '$1==n{line=$2" "$3} END{if (line) print line}' "$STARTED"
}
exited() {  # pid exe: no such process, a zombie, or the pid already another program's
    local state; state="$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $1}')"
    case "$state" in ""|Z|X) return 0 ;; esac
    [ -n "$(readlink "/proc/$1/exe" 2>/dev/null)" ] && ! pid_alive "$1" "$2"
}
stop_lab() {  # name signal
    local pid exe
    read -r pid exe <<< "$(lab_recorded "$1")"
    [ -n "${pid:-}" ] || die "$1: not started by the lab"
    pid_alive "$pid" "$exe" || { log "$1 (pid $pid) is not running"; return 0; }
    if [ "$2" = KILL ]; then
        kill -KILL "$pid"
        # A process in uninterruptible sleep (libvirtd in a storage call) dies only when that
        # returns, and keeps its listening sockets until then.
        # Gone means reaped or a zombie: /proc/PID/exe goes with the process's memory, before the
        # kernel closes its files, and a connect in between is still accepted.
        for _ in $(seq 600); do exited "$pid" "$exe" && { log "killed $1 (pid $pid)"; return 0; }; sleep 0.1; done
        die "$1 (pid $pid) still alive 60 s after SIGKILL: $(cat "/proc/$pid/stat" 2>/dev/null)"
    else
        kill_pid "$1" "$pid" "$exe"
    fi
}

# lab.json lists the lab's processes (tests find a daemon's PID there): after a restart here it
# must name the new PID, as up.sh would write it (the latest record per name in $STARTED).
refresh_lab_json() {
    python3 - "$STARTED" "$LAB_JSON" <<'PY'
import json, os, sys
started, path = sys.argv[1:]
latest = {}
for line in open(started):
    parts = line.split()
    if len(parts) == 4:
        latest[parts[0]] = {"name": parts[0], "pid": int(parts[1]), "exe": parts[2], "pidfile": parts[3]}
doc = json.load(open(path))
doc["processes"] = list(latest.values())
with open(path + ".tmp", "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
os.replace(path + ".tmp", path)
PY
}

case "$what:$verb" in
    redis:stop) fleet_redis_stop ;;
    redis:kill) pid="$(fleet_redis_pid)" && kill -KILL "$pid" && while fleet_redis_pid >/dev/null; do sleep 0.1; done ;;
    redis:start) fleet_redis_start ;;
    postgres:stop) fleet_pg_stop ;;
    postgres:kill) as_postgres "$PG_BIN/pg_ctl" -D "$FLEET_PG" -m immediate -w stop >/dev/null ;;
    postgres:start) fleet_pg_start ;;
    ovn-nb:stop) stop_lab ovsdb-server-ovnnb TERM ;;
    ovn-nb:kill) stop_lab ovsdb-server-ovnnb KILL ;;
    ovn-nb:start) start_ovn_db nb 6641 && refresh_lab_json ;;
    libvirtd-b:stop) stop_lab libvirtd-b TERM ;;
    libvirtd-b:kill) stop_lab libvirtd-b KILL ;;
    libvirtd-b:start)
        start_libvirtd_b
        refresh_lab_json
        for _ in $(seq 60); do timeout 30 virsh -q -c "$URI_B" version >/dev/null 2>&1 && exit 0; sleep 0.5; done
        die "host B's libvirtd does not answer after its start; see $LOGS/libvirtd-b.out" ;;
    *) die "unknown: $what $verb" ;;
esac
