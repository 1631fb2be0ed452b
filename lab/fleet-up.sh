#!/bin/bash
# Bring the portal up on the lab the way the README's production section says, as separate
# processes (the fleet): its own PostgreSQL cluster and Redis server (private ones, listening on
# loopback and host A's lab address, so fault tests may restart them), migrate, both lab hosts registered by network URIs (qemu+tcp://, host A too), uvicorn with
# two workers, beat once, and two Celery workers that each see only their own data directory
# (a mount namespace of their own with a private directory bound over NUBES_DATA_DIR); worker
# B runs inside host B's network namespace and reaches PostgreSQL, Redis and the OVN NB over
# the lab link. Every process is started with deploy/nubes.sh, as deploy/*.service do.
# Everything made is recorded under lab/state/fleet (fleet.json last); lab/fleet-down.sh
# removes it. Needs the lab (lab/up.sh) and root.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root"
[ -s "$LAB_JSON" ] || die "the lab is not up ($LAB_JSON absent): run \`make lab\` first"
ROOT="$(cd "$LAB/.." && pwd)"
VENV="${NUBES_VENV:-$ROOT/.venv}"
[ -x "$VENV/bin/uvicorn" ] || die "no $VENV/bin/uvicorn: run \`make check\` (or set NUBES_VENV)"
if [ -s "$FLEET_JSON" ]; then log "the fleet is already up ($FLEET_JSON); lab/fleet-down.sh first"; exit 0; fi
t0=$(date +%s.%N)
PG_HOST=127.0.0.1 PG_PORT=$FLEET_PG_PORT REDIS_HOST=127.0.0.1 REDIS_PORT=$FLEET_REDIS_PORT
URL="http://127.0.0.1:$FLEET_PORT"

mkdir -p "$FLEET/logs" "$FLEET/worker-a" "$FLEET/worker-b" "$FLEET_DATA"
chmod 711 "$FLEET"  # user postgres reaches its cluster below; nothing else here is readable
: > "$FLEET_STARTED"
# Abandon half a fleet: whatever started is stopped again.
trap 'rc=$?; [ $rc = 0 ] || { warn "fleet did not come up (exit $rc); stopping what started"; "$LAB/fleet-down.sh" || true; }' EXIT

# ---- configuration: one env file per process kind (systemd EnvironmentFile format)
[ -s "$FLEET/secret_key" ] || { python3 -c 'import secrets; print(secrets.token_urlsafe(50))' > "$FLEET/secret_key"; }
[ -s "$FLEET/admin_password" ] || { python3 -c 'import secrets; print(secrets.token_urlsafe(18))' > "$FLEET/admin_password"; }
chmod 600 "$FLEET/secret_key" "$FLEET/admin_password"
write_env() {  # file db-host redis-host worker-name
    cat > "$1" <<EOF
DATABASE_URL=postgres://postgres@$2:$PG_PORT/$FLEET_DB
REDIS_URL=redis://$3:$REDIS_PORT/$FLEET_REDIS_DB
NUBES_CHANNEL_PREFIX=$FLEET_DB
SECRET_KEY_FILE=$FLEET/secret_key
ALLOWED_HOSTS=127.0.0.1,localhost
NUBES_DATA_DIR=$FLEET_DATA
NUBES_VENV=$VENV
NUBES_BIND=127.0.0.1
NUBES_PORT=$FLEET_PORT
NUBES_WEB_WORKERS=2
NUBES_WORKER_NAME=$4
PYTHONUNBUFFERED=1
EOF
}
write_env "$FLEET/web.env" "$PG_HOST" "$REDIS_HOST" -
# NUBES_DB_POOL from the caller (`NUBES_DB_POOL=0 make lab-fleet`: no pool), else deploy/nubes.sh web's 20.
[ -z "${NUBES_DB_POOL:-}" ] || echo "NUBES_DB_POOL=$NUBES_DB_POOL" >> "$FLEET/web.env"
# NUBES_GC_THRESHOLDS from the caller (`NUBES_GC_THRESHOLDS=700,10,10 make lab-fleet`: Python's own), else deploy/nubes.sh web's 50000,20,100.
[ -z "${NUBES_GC_THRESHOLDS:-}" ] || echo "NUBES_GC_THRESHOLDS=$NUBES_GC_THRESHOLDS" >> "$FLEET/web.env"
# FLEET_WEB_WORKERS from the caller: uvicorn workers other than 2 (4 cut delivery's tail, see the README's load row).
[ -z "${FLEET_WEB_WORKERS:-}" ] || sed -i "s/^NUBES_WEB_WORKERS=.*/NUBES_WEB_WORKERS=$FLEET_WEB_WORKERS/" "$FLEET/web.env"
# The web processes' console proxy speaks VeNCrypt to the hosts' QEMU (lab/vnc-tls.sh made these).
VNC_PKI="$(cd "$STATE" && pwd -P)/vnc-pki"
if [ -s "$VNC_PKI/proxy-cert.pem" ]; then
    printf 'NUBES_VNC_TLS_CA=%s\nNUBES_VNC_TLS_CERT=%s\nNUBES_VNC_TLS_KEY=%s\n' \
        "$VNC_PKI/ca-cert.pem" "$VNC_PKI/proxy-cert.pem" "$VNC_PKI/proxy-key.pem" >> "$FLEET/web.env"
fi
write_env "$FLEET/worker-a.env" "$PG_HOST" "$REDIS_HOST" nubes-hosta
write_env "$FLEET/worker-b.env" "$MGMT_A" "$MGMT_A" nubes-hostb

# A command's environment: exactly one env file's (nothing inherited but PATH and HOME).
env_of() {  # envfile
    printf '%s\n' PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="${HOME:-/root}" LANG=C.UTF-8
    grep -E '^[A-Z_][A-Z0-9_]*=' "$1"
}
with_env() {  # envfile cmd...
    local vars=(); mapfile -t vars < <(env_of "$1"); shift
    env -i "${vars[@]}" "$@"
}
# Start a long-running process in its own session; the PID recorded is the process itself
# (setsid, env, ip netns exec, unshare and sh all exec without forking).
start() {  # name envfile|- cmd...
    local name="$1" file="$2"; shift 2
    local vars=(); [ "$file" = - ] || mapfile -t vars < <(env_of "$file")
    local log="$FLEET/logs/$name.log"
    # Simple commands only: a backgrounded compound command would fork a subshell first.
    if [ "$file" = - ]; then setsid "$@" > "$log" 2>&1 < /dev/null &
    else setsid env -i "${vars[@]}" "$@" > "$log" 2>&1 < /dev/null &
    fi
    local pid=$!
    sleep 0.5
    [ -d "/proc/$pid" ] || { tail -20 "$log" >&2; die "$name exited at once"; }
    echo "$name $pid $(proc_start "$pid")" >> "$FLEET_STARTED"
}
# ---- the fleet's own PostgreSQL and Redis, on loopback and host A's lab address (worker B's way
# in from host B's namespace); started by pid file, so a fault test's restart is stopped too.
log "PostgreSQL on :$PG_PORT, Redis on :$REDIS_PORT (the fleet's own; $MGMT_A too)"
fleet_pg_init
fleet_pg_start
psql -q -h "$PG_HOST" -p "$PG_PORT" -U postgres -c "CREATE DATABASE $FLEET_DB" >/dev/null
echo "$FLEET_DB" > "$FLEET/database"
fleet_redis_start
ip netns exec "$NETNS_B" timeout 3 bash -c "echo > /dev/tcp/$MGMT_A/$PG_PORT && echo > /dev/tcp/$MGMT_A/$REDIS_PORT" \
    || die "host B's namespace does not reach PostgreSQL and Redis on $MGMT_A"

# ---- migrate, the cloud admin, the lab's hosts by network URIs
log "migrate"
t_migrate=$(date +%s.%N)
with_env "$FLEET/web.env" "$ROOT/deploy/nubes.sh" migrate -v 0
with_env "$FLEET/web.env" DJANGO_SUPERUSER_PASSWORD="$(cat "$FLEET/admin_password")" \
    "$VENV/bin/python" "$ROOT/manage.py" createsuperuser --noinput --username admin --email admin@fleet.invalid >/dev/null
log "register the lab by network URIs"
with_env "$FLEET/web.env" "$VENV/bin/python" "$ROOT/manage.py" lab_register --network-uris --lab-json "$LAB_JSON" \
    | tee "$FLEET/logs/lab_register.log" | sed 's/^/[fleet]   /'

# ---- the processes
t_procs=$(date +%s.%N)
log "web (uvicorn, ${FLEET_WEB_WORKERS:-2} workers) on $URL, beat, worker A (root namespaces), worker B (netns $NETNS_B)"
start web "$FLEET/web.env" "$ROOT/deploy/nubes.sh" web
start beat "$FLEET/web.env" "$ROOT/deploy/nubes.sh" beat
private_worker='mount --bind "$1" "$2" && exec "$3" worker'
start worker-a "$FLEET/worker-a.env" unshare --mount --propagation private \
    sh -c "$private_worker" sh "$FLEET/worker-a" "$FLEET_DATA" "$ROOT/deploy/nubes.sh"
start worker-b "$FLEET/worker-b.env" ip netns exec "$NETNS_B" unshare --mount --propagation private \
    sh -c "$private_worker" sh "$FLEET/worker-b" "$FLEET_DATA" "$ROOT/deploy/nubes.sh"

ready() {  # what seconds test...
    local what="$1" secs="$2"; shift 2
    for _ in $(seq $((secs * 2))); do "$@" && return 0; sleep 0.5; done
    die "$what not ready after ${secs}s; see $FLEET/logs"
}
answers() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$1" 2>/dev/null; }
ready "web" 60 answers "$URL/readyz"
ready "worker A" 90 grep -q "nubes-hosta@.* ready" "$FLEET/logs/worker-a.log"
ready "worker B" 90 grep -q "nubes-hostb@.* ready" "$FLEET/logs/worker-b.log"
ready "beat" 30 grep -q "beat: Starting" "$FLEET/logs/beat.log"
while read -r name pid start; do
    fleet_alive "$pid" "$start" || die "$name (pid $pid) is gone; see $FLEET/logs/$name.log"
done < "$FLEET_STARTED"
# uvicorn's worker processes: its children started by multiprocessing's spawn (not its resource tracker).
web_workers() {
    local kid
    for kid in $(awk -v p="$1" '$4==p{print $1}' /proc/[0-9]*/stat 2>/dev/null | sort -n); do
        tr '\0' ' ' < "/proc/$kid/cmdline" 2>/dev/null | grep -q spawn_main && printf '%s ' "$kid"
    done
}
web_pid="$(awk '$1=="web"{print $2}' "$FLEET_STARTED")"
ready "2 uvicorn workers" 30 test "$(web_workers "$web_pid" | wc -w)" -ge 2

# ---- fleet.json: what the fleet tier and lab/fleet-down.sh read
export FLEET FLEET_JSON FLEET_STARTED FLEET_DATA FLEET_DB FLEET_REDIS_DB FLEET_PG_PORT FLEET_REDIS_PORT FLEET_PG FLEET_REDIS URL LAB_JSON ROOT MGMT_A NETNS_B
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}'; }
export WEB_CHILDREN="$(web_workers "$web_pid")" UP_S="$(since "$t0")" PROCS_S="$(since "$t_procs")" \
    SETUP_S="$(awk -v a="$t_migrate" -v b="$t_procs" 'BEGIN{printf "%.1f", b - a}')"
python3 - <<'EOF'
import json, os
E = os.environ
procs = []
for line in open(E["FLEET_STARTED"]):
    name, pid, start = line.split()
    exe = os.path.basename(os.readlink("/proc/%s/exe" % pid))
    procs.append({"name": name, "pid": int(pid), "exe": exe, "start_ticks": int(start)})
data = {
    "url": E["URL"],
    "admin": {"username": "admin", "password_file": E["FLEET"] + "/admin_password"},
    "database": "postgres://postgres@127.0.0.1:%s/%s" % (E["FLEET_PG_PORT"], E["FLEET_DB"]),
    "redis": "redis://127.0.0.1:%s/%s" % (E["FLEET_REDIS_PORT"], E["FLEET_REDIS_DB"]),
    "services": {"postgres": E["FLEET_PG"], "redis": E["FLEET_REDIS"]},
    "data_dir": E["FLEET_DATA"],
    "env_files": {k: "%s/%s.env" % (E["FLEET"], k) for k in ("web", "worker-a", "worker-b")},
    "workers": {"nubes-hosta": {"netns": None}, "nubes-hostb": {"netns": E["NETNS_B"], "reaches": E["MGMT_A"]}},
    "processes": procs,
    "web_worker_pids": [int(p) for p in E["WEB_CHILDREN"].split()],
    "lab_json": E["LAB_JSON"],
    "logs": E["FLEET"] + "/logs",
    "timings_s": {
        "up": float(E["UP_S"]),
        "migrate_and_register": float(E["SETUP_S"]),
        "processes_ready": float(E["PROCS_S"]),
    },
}
tmp = E["FLEET_JSON"] + ".tmp"
with open(tmp, "w") as f:
    json.dump(data, f, indent=2)
os.replace(tmp, E["FLEET_JSON"])
EOF
trap - EXIT
log "fleet up in ${UP_S%.*} s: $URL (admin, password in $FLEET/admin_password); $FLEET_JSON"
