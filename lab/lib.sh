# Shared names, paths and helpers of the Nubes lab scripts (sourced, not run).
# Every name the lab creates is listed here, so up.sh, down.sh, status.sh and
# leftovers.sh agree on what "the lab" is.

# The daemons the lab starts must not inherit the caller's descriptors: under
# `flock lab.lock make lab` the libvirtds it restarted held the lock for as long as they ran.
# No redirection on the loop: bash would save stderr in a descriptor the loop then closes, and
# every later message to stderr (die, warn) went nowhere. The glob's own directory descriptor
# is listed but already closed: -L skips it.
for _fd in /proc/$$/fd/*; do
    _n=${_fd##*/}
    if [ "$_n" -gt 2 ] && [ "$_n" -lt 255 ] && [ -L "$_fd" ]; then eval "exec $_n>&-"; fi
done
unset _fd _n

LAB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${NUBES_LAB_STATE:-$LAB/state}"   # NUBES_LAB_STATE: a lab brought up from another checkout
LOGS="$STATE/logs"
NSDIR="$STATE/ns"                 # persistent mount/UTS namespace files of host B
STARTED="$STATE/started"          # "name pid exe pidfile" per process the lab started
LAB_JSON="$STATE/lab.json"
DATA=/var/lib/nubes-lab           # shared pool, local pool, guest images, serial logs

NETNS_B=nubes-hostb
NETNS_P=nubes-provider
HOSTNAME_B=nubes-hostb

# Management link (libvirt, OVSDB, migration): kernel IPs on a veth pair.
VETH_MGMT_A=nubes-a-mgmt; VETH_MGMT_B=nubes-b-mgmt
MGMT_A=10.99.0.1; MGMT_B=10.99.0.2
# Tunnel underlay (Geneve): a second veth pair inside each host's br-phy; the
# userspace datapath only tunnels through an OVS bridge that owns the local IP.
VETH_TUN_A=nubes-a-tun; VETH_TUN_B=nubes-b-tun
TUN_A=10.99.1.1; TUN_B=10.99.1.2
# Provider ("external") network for floating IPs: br-ex on host A <-> namespace.
VETH_PROV_A=nubes-a-prov; VETH_PROV_P=nubes-p-prov
PROVIDER_CIDR=172.31.250.0/24; PROVIDER_GW=172.31.250.1
PROVIDER_FIP_FIRST=172.31.250.100; PROVIDER_FIP_LAST=172.31.250.199
PHYSNET=physnet1
BRIDGES_A="br-int br-phy br-ex"
BRIDGES_B="br-int br-phy"
ALL_VETHS="$VETH_MGMT_A $VETH_MGMT_B $VETH_TUN_A $VETH_TUN_B $VETH_PROV_A $VETH_PROV_P"

URI_A=qemu:///system
URI_A_TCP="qemu+tcp://$MGMT_A/system"
URI_B="qemu+tcp://$MGMT_B/system"
OVN_NB="tcp:$MGMT_A:6641"
OVN_SB="tcp:$MGMT_A:6642"
CHASSIS_A=nubes-hosta
CHASSIS_B=nubes-hostb

POOL_SHARED=nubes-shared; POOL_SHARED_PATH=$DATA/shared
POOL_LOCAL=nubes-local;   POOL_LOCAL_PATH=$DATA/local-a
IMAGES=$DATA/images
SERIAL=$DATA/serial
DOMAIN_PREFIX=nubes-

# The fleet (lab/fleet-up.sh): the portal run as production runs it, on the lab.
FLEET="$STATE/fleet"              # env files, logs, worker data dirs, fleet.json, started
FLEET_JSON="$FLEET/fleet.json"
FLEET_STARTED="$FLEET/started"    # "name pid start-ticks" per process the fleet started
FLEET_DATA=$DATA/fleet            # NUBES_DATA_DIR of every fleet process (workers: their own, bound over it)
FLEET_DB=nubes_fleet
FLEET_REDIS_DB=0
FLEET_PORT=8470
# The fleet's own Redis and PostgreSQL (not this machine's shared ones: the fault tests restart
# them), listening on loopback and host A's lab address; data under $FLEET, nothing persisted.
FLEET_REDIS_PORT=6390
FLEET_REDIS="$FLEET/redis"        # redis.pid, redis.log
FLEET_PG_PORT=5442
FLEET_PG="$FLEET/postgres"        # the cluster (initdb), owned by user postgres
PG_BIN=/usr/lib/postgresql/15/bin

HB="$STATE/hostb"                 # host B's private /etc /run /var dirs
OVS_A_RUN=/var/run/openvswitch    # libvirt's ovs-vsctl uses the default paths
OVS_A_DB="$STATE/ovs-a/conf.db"
OVS_B_DB="$HB/etc-openvswitch/conf.db"
OVN_CENTRAL="$STATE/ovn-central"
OVN_A_RUN="$STATE/ovn-a"
OVN_B_RUN="$HB/run-ovn"

log()  { echo "[lab] $*"; }
warn() { echo "[lab] WARNING: $*" >&2; }
die()  { echo "[lab] ERROR: $*" >&2; exit 1; }

# Run a command inside host B (its network, mount and UTS namespaces).
hostb() {
    nsenter --net="/run/netns/$NETNS_B" --mount="$NSDIR/hostb.mnt" --uts="$NSDIR/hostb.uts" -- "$@"
}
hostb_ready() { [ -e "/run/netns/$NETNS_B" ] && mountpoint -q "$NSDIR/hostb.mnt" 2>/dev/null; }

# A pid is "ours and alive" when it runs the executable we recorded.
pid_alive() {  # pid exe
    local pid="$1" exe="$2"
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    [ "$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null)" 2>/dev/null)" = "$exe" ]
}
# A process's start time (clock ticks since boot): with the pid, its identity across exec.
proc_start() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'; }
fleet_alive() {  # pid start-ticks
    [ -n "$1" ] && [ -d "/proc/$1" ] && [ "$(proc_start "$1")" = "$2" ]
}
pid_from_file() { [ -s "$1" ] && tr -dc '0-9' < "$1"; }

# Record a started process (pid read from its pidfile).
record_started() {  # name exe pidfile
    local name="$1" exe="$2" pidfile="$3" pid
    for _ in $(seq 50); do
        pid="$(pid_from_file "$pidfile" || true)"
        [ -n "$pid" ] && pid_alive "$pid" "$exe" && break
        sleep 0.1
    done
    pid_alive "$pid" "$exe" || die "$name did not start (pidfile $pidfile); see $LOGS"
    echo "$name $pid $exe $pidfile" >> "$STARTED"
}

# Is a recorded process (by name) alive?
started_alive() {  # name
    [ -s "$STARTED" ] || return 1
    local line; line="$(awk -v n="$1" '$1==n' "$STARTED" | tail -n1)"
    [ -n "$line" ] || return 1
    set -- $line
    pid_alive "$2" "$3"
}

# Stop one process we started: SIGTERM, then SIGKILL after 10 s.
kill_pid() {  # name pid exe
    local name="$1" pid="$2" exe="$3"
    pid_alive "$pid" "$exe" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do pid_alive "$pid" "$exe" || { log "stopped $name (pid $pid)"; return 0; }; sleep 0.1; done
    warn "$name (pid $pid) ignored SIGTERM; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 30); do pid_alive "$pid" "$exe" || return 0; sleep 0.1; done
    warn "$name (pid $pid) still alive"
}

virsh_a() { virsh -q -c "$URI_A" "$@"; }
virsh_b() { virsh -q -c "$URI_B" "$@"; }

# `cmd | has PATTERN`: like grep -q, but reads all its input, so the writer
# never dies of SIGPIPE (with pipefail, `cmd | grep -q` fails at random).
has() { grep "$@" >/dev/null; }

# ---- lab daemons started the same way by up.sh and by fault tests that restart them
# (lab/fleet-service.sh); each start appends a line to $STARTED (the last line of a name counts).
start_ovn_db() {  # nb|sb port
    local which="$1" port="$2" name="ovsdb-server-ovn$1"
    started_alive "$name" && return 0
    local db="$OVN_CENTRAL/ovn${which}_db.db"
    [ -s "$db" ] || ovsdb-tool create "$db" "/usr/share/ovn/ovn-$which.ovsschema"
    ovsdb-server "$db" --remote="punix:$OVN_CENTRAL/ovn${which}_db.sock" \
        --remote="ptcp:$port:$MGMT_A" --pidfile="$OVN_CENTRAL/ovn${which}_db.pid" \
        --unixctl="$OVN_CENTRAL/ovn${which}_db.ctl" --log-file="$LOGS/ovn-$which-db.log" \
        --detach --no-chdir >/dev/null 2>&1
    record_started "$name" ovsdb-server "$OVN_CENTRAL/ovn${which}_db.pid"
}
start_libvirtd_b() {
    started_alive libvirtd-b && return 0
    hostb /usr/sbin/libvirtd -d --listen -p /run/libvirt/libvirtd.pid >"$LOGS/libvirtd-b.out" 2>&1
    record_started libvirtd-b libvirtd "$HB/run-libvirt/libvirtd.pid"
}

# ---- the fleet's Redis and PostgreSQL: started and stopped by PID (their pid files), also by the
# fault tests (lab/fleet-service.sh) to restart them mid-operation.
# Run a daemon without the descriptors this shell inherited: one started under `flock lab.lock`
# would otherwise hold the lab lock for as long as it lives.
detached() { python3 -c 'import os, sys; os.closerange(3, 1 << 16); os.execvp(sys.argv[1], sys.argv[1:])' "$@"; }
# Debian's redis-server is a link to redis-check-rdb (so /proc/PID/exe names that): known by its
# command line, which Redis sets to "redis-server ADDRESS:PORT".
fleet_redis_pid() {
    local pid; pid="$(pid_from_file "$FLEET_REDIS/redis.pid" || true)"
    [ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | has "^redis-server .*:$FLEET_REDIS_PORT" && echo "$pid"
}
fleet_redis_start() {
    fleet_redis_pid >/dev/null && return 0
    mkdir -p "$FLEET_REDIS"
    # No persistence: a restart loses every message and key, the worst case for the portal.
    detached redis-server --port "$FLEET_REDIS_PORT" --bind "127.0.0.1 $MGMT_A" --protected-mode no \
        --save "" --appendonly no --dir "$FLEET_REDIS" --daemonize yes \
        --pidfile "$FLEET_REDIS/redis.pid" --logfile "$FLEET_REDIS/redis.log" >/dev/null
    for _ in $(seq 50); do redis-cli -p "$FLEET_REDIS_PORT" ping 2>/dev/null | has PONG && return 0; sleep 0.1; done
    die "the fleet's Redis did not start; see $FLEET_REDIS/redis.log"
}
fleet_redis_stop() {  # SIGTERM to the pid file's redis-server, SIGKILL after 10 s
    local pid; pid="$(fleet_redis_pid)" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do fleet_redis_pid >/dev/null || { log "stopped the fleet's Redis (pid $pid)"; return 0; }; sleep 0.1; done
    warn "the fleet's Redis (pid $pid) ignored SIGTERM; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }
fleet_pg_running() { [ -s "$FLEET_PG/postmaster.pid" ] && as_postgres "$PG_BIN/pg_ctl" -D "$FLEET_PG" status >/dev/null 2>&1; }
fleet_pg_init() {  # a new cluster: trust on loopback and the lab link (worker B comes from host B)
    mkdir -p "$FLEET_PG" && chown postgres:postgres "$FLEET_PG" && chmod 700 "$FLEET_PG"
    as_postgres "$PG_BIN/initdb" -D "$FLEET_PG" -U postgres --auth=trust --no-sync >/dev/null
    cat > "$FLEET_PG/pg_hba.conf" <<HBA
local all all trust
host all all 127.0.0.1/32 trust
host all all $MGMT_A/32 trust
host all all $MGMT_B/32 trust
HBA
    cat >> "$FLEET_PG/postgresql.conf" <<CONF
port = $FLEET_PG_PORT
listen_addresses = '127.0.0.1,$MGMT_A'
unix_socket_directories = '$FLEET_PG'
fsync = off
max_connections = 200
CONF
}
fleet_pg_start() {
    fleet_pg_running && return 0
    detached setpriv --reuid=postgres --regid=postgres --init-groups -- \
        "$PG_BIN/pg_ctl" -D "$FLEET_PG" -l "$FLEET_PG/server.log" -w -t 60 start >/dev/null \
        || die "the fleet's PostgreSQL did not start; see $FLEET_PG/server.log"
}
fleet_pg_stop() {  # fast shutdown: open sessions are cut, as in a crash of the clients' server
    fleet_pg_running || return 0
    as_postgres "$PG_BIN/pg_ctl" -D "$FLEET_PG" -m fast -w -t 60 stop >/dev/null
}
