#!/bin/bash
# Stop the fleet lab/fleet-up.sh started and remove what it made: the domains, volumes and
# pools its portal made on both hosts (as its database lists them), its processes (by recorded PID and start
# time, with their children), its own PostgreSQL and Redis servers (by their pid files), files
# and data directories, and the OVN Northbound rows of its networks. Nothing else. Safe to run
# when the fleet is not up.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root"
[ -d "$FLEET" ] || { log "no fleet ($FLEET absent)"; exit 0; }

# 1. What the fleet's portal made on the hosts, while its database is still there: the domains
#    and volumes of its instances, its volumes (named nubes-*), and pools it defined beyond the lab's.
fleet_sql() { psql -At -h 127.0.0.1 -p "$FLEET_PG_PORT" -U postgres -d "$FLEET_DB" -c "$1" 2>/dev/null || true; }
# A fault test may have left the fleet's PostgreSQL stopped: start it again to read them.
[ -s "$FLEET_PG/PG_VERSION" ] && { ( fleet_pg_start ) || warn "the fleet's PostgreSQL does not start: its guests stay"; }
if [ -s "$FLEET/database" ]; then
    uuids="$(fleet_sql "SELECT uuid FROM compute_instance")"
    volumes="$(fleet_sql "SELECT libvirt_name FROM storage_volume WHERE libvirt_name LIKE '$DOMAIN_PREFIX%'")"
    lab_pools=" $(python3 -c 'import json, sys; print(" ".join(p["name"] for p in json.load(open(sys.argv[1]))["pools"]))' "$LAB_JSON" 2>/dev/null) "
    own_pools="$(fleet_sql "SELECT libvirt_name FROM storage_storagepool" | while read -r p; do
        case "$lab_pools" in *" $p "*) ;; *) echo "$p" ;; esac; done)"
    for uri in "$URI_A_TCP" "$URI_B"; do
        timeout 20 virsh -q -c "$uri" version >/dev/null 2>&1 || continue
        for u in $uuids; do
            d="$DOMAIN_PREFIX$u"
            timeout 30 virsh -q -c "$uri" dominfo "$d" >/dev/null 2>&1 || continue
            timeout 30 virsh -q -c "$uri" destroy "$d" >/dev/null 2>&1 || true
            timeout 30 virsh -q -c "$uri" undefine "$d" --snapshots-metadata --checkpoints-metadata >/dev/null 2>&1 \
                || timeout 30 virsh -q -c "$uri" undefine "$d" >/dev/null 2>&1 || true
            log "removed domain $d from $uri"
        done
        for p in $(timeout 20 virsh -q -c "$uri" pool-list --name 2>/dev/null); do
            for v in $(timeout 20 virsh -q -c "$uri" vol-list "$p" 2>/dev/null | awk '{print $1}'); do
                mine=0
                for u in $uuids; do [[ "$v" == "$DOMAIN_PREFIX$u"* ]] && mine=1; done
                for w in $volumes; do [ "$v" = "$w" ] && mine=1; done
                case " $own_pools " in *" $p "*) mine=1 ;; esac
                [ $mine = 1 ] || continue
                timeout 30 virsh -q -c "$uri" vol-delete "$v" --pool "$p" >/dev/null 2>&1 && log "removed volume $v from pool $p ($uri)"
            done
        done
        for p in $own_pools; do
            timeout 20 virsh -q -c "$uri" pool-info "$p" >/dev/null 2>&1 || continue
            timeout 20 virsh -q -c "$uri" pool-destroy "$p" >/dev/null 2>&1
            timeout 20 virsh -q -c "$uri" pool-delete "$p" >/dev/null 2>&1
            timeout 20 virsh -q -c "$uri" pool-undefine "$p" >/dev/null 2>&1 && log "removed pool $p from $uri"
        done
    done
fi

# 2. Processes, newest first; a process's children (uvicorn's and Celery's workers) after it.
descendants() {  # pid: "pid start" of every descendant (one ps, walked up to the root)
    local kid
    for kid in $(ps -e -o pid=,ppid= | awk -v root="$1" '{ up[$1] = $2 }
        END { for (p in up) { q = p; while ((q in up) && q != root && q > 1) q = up[q]; if (q == root && p != root) print p } }'); do
        echo "$kid $(proc_start "$kid")"
    done
}
stop_recorded() {  # name pid start
    local name="$1" pid="$2" start="$3" kids
    fleet_alive "$pid" "$start" || return 0
    kids="$(descendants "$pid")"
    local t0=$SECONDS
    kill -TERM "$pid" 2>/dev/null || true
    # Celery's warm shutdown waits for running tasks; uvicorn for open connections.
    for _ in $(seq 300); do fleet_alive "$pid" "$start" || break; sleep 0.1; done
    if fleet_alive "$pid" "$start"; then warn "$name (pid $pid) ignored SIGTERM for 30 s; SIGKILL"; kill -KILL "$pid" 2>/dev/null; fi
    echo "$kids" | while read -r kid kstart; do
        [ -n "$kid" ] && fleet_alive "$kid" "$kstart" && kill -KILL "$kid" 2>/dev/null && warn "$name: child $kid outlived it; SIGKILL"
    done
    log "stopped $name (pid $pid) in $((SECONDS - t0)) s"
}
if [ -s "$FLEET_STARTED" ]; then
    tac "$FLEET_STARTED" | while read -r name pid start; do
        [ -n "$name" ] && stop_recorded "$name" "$pid" "$start"
    done
fi

# 2b. Once its processes stopped (a beat-started sync would restore them): the OVN Northbound rows
#     its portal made (external_ids nubes:owner=nubes, nubes:id one of its network objects'
#     uuids). The lab's NB is shared with other portals, so nothing else.
if [ -s "$FLEET/database" ]; then
    tables="$(fleet_sql "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'
        AND column_name = 'uuid' AND table_name LIKE 'network\_%'")"
    ids="$(for t in $tables; do fleet_sql "SELECT uuid FROM $t"; done)"
    [ -z "$ids" ] || FLEET_IDS="$ids" NB="$OVN_NB" python3 - <<'EOF'
import json, os, subprocess
ids, db = set(os.environ["FLEET_IDS"].split()), "--db=" + os.environ["NB"]
def nbctl(*args):
    return subprocess.run(["ovn-nbctl", db, "--timeout=20", *args], capture_output=True, text=True, timeout=30)
def ours(table):
    columns = ("_uuid", "external_ids") + (("name",) if table != "DHCP_Options" else ())
    listed = nbctl("--format=json", "--columns=" + ",".join(columns), "list", table)
    if listed.returncode != 0:
        print(f"[lab] WARNING: OVN NB {table} unreadable: {listed.stderr.strip()}")
        return []
    rows = [dict(zip(columns, r)) for r in json.loads(listed.stdout)["data"]]
    return [(r["_uuid"][1], r.get("name")) for r in rows
            if dict(r["external_ids"][1]).get("nubes:owner") == "nubes" and dict(r["external_ids"][1]).get("nubes:id") in ids]
# Containers first (their ports, ACLs, NAT and routes go with them), then what sat in others'.
for table, verb in (("Logical_Router", "lr-del"), ("Logical_Switch", "ls-del"), ("Port_Group", "pg-del"),
                    ("Load_Balancer", "lb-del"), ("DHCP_Options", "dhcp-options-del"),
                    ("Logical_Router_Port", "lrp-del"), ("Logical_Switch_Port", "lsp-del")):
    for uuid, name in ours(table):
        done = nbctl(verb, uuid)
        print(f"[lab] removed OVN NB {table} {name or uuid}" if done.returncode == 0 else
              f"[lab] WARNING: OVN NB {table} {name or uuid}: {done.stderr.strip()}")
EOF
fi

# 3. Its PostgreSQL and Redis (their data goes with the files below).
[ -d "$FLEET_PG" ] && fleet_pg_stop && log "stopped the fleet's PostgreSQL"
[ -d "$FLEET_REDIS" ] && fleet_redis_stop

# 4. Files.
rm -rf "$FLEET_DATA" "$FLEET"
log "fleet is down"
