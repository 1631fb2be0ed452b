#!/bin/bash
# Bring up the Nubes lab: a real two-host libvirt/QEMU + OVS + OVN cluster on
# this one machine (root; Debian/Ubuntu). Idempotent: running it twice is safe,
# it only starts what is not running yet. lab/down.sh removes all of it.
#
#   host A   libvirtd + virtlogd + virtlockd in the root namespaces (started only
#            if not already running; a libvirtd the lab starts also listens on
#            qemu+tcp://10.99.0.1/system, auth none, that address only)
#   host B   a second libvirtd (+ virtlogd) in network namespace nubes-hostb with
#            its own mount + UTS namespaces (files under lab/state/ns), private
#            /etc /run /var dirs for libvirt and OVS, own host_uuid, listening on
#            qemu+tcp://10.99.0.2/system; run commands in it with lab/hostb.sh
#   OVS      one ovsdb-server + ovs-vswitchd per host, userspace datapath
#            (datapath_type=netdev): br-int (OVN), br-phy (Geneve underlay),
#            br-ex on host A (provider network, ovn-bridge-mappings physnet1:br-ex)
#   OVN      central NB tcp:10.99.0.1:6641, SB tcp:10.99.0.1:6642, ovn-northd;
#            ovn-controller per host (chassis nubes-hosta / nubes-hostb), Geneve
#   provider namespace nubes-provider, 172.31.250.1/24 (the upstream "router");
#            floating IPs from 172.31.250.100-199
#   storage  dir pool nubes-shared (same path on both hosts: a local stand-in for shared
#            storage) and nubes-local (host A only); guest kernel + initrd under
#            /var/lib/nubes-lab/images; a storage node in netns nubes-storage (lab/storage.sh):
#            iSCSI LUNs (tgtd, pool nubes-san, iscsi-direct) and a GlusterFS volume (pool
#            nubes-gluster, netfs) on a storage network 10.99.2.0/24 both hosts reach
#   services the service guest image (lab/service-guest/build.sh, cached under
#            /var/cache/nubes); `manage.py lab_register` puts it in nubes-shared and
#            registers the PostgreSQL service template
#
# Links: nubes-a-mgmt (10.99.0.1) <-> nubes-b-mgmt (10.99.0.2): libvirt, OVSDB,
# migration. nubes-a-tun <-> nubes-b-tun inside br-phy, encap IPs 10.99.1.1 /
# 10.99.1.2 on br-phy. nubes-a-prov (in br-ex) <-> nubes-p-prov (provider ns).
#
# lab/state/lab.json (written last; its presence means "the lab is up"):
# {
#   "version": 1,
#   "created_at": "2025-01-01T00:00:00Z",
#   "state_dir": "/work/main/lab/state",
#   "kvm": {"usable": false, "virt_type": "qemu", "reason": "..."},   # use virt_type in <domain type=>
#   "hosts": [
#     {"name": "nubes-hosta", "uri": "qemu:///system", "tcp_uri": "qemu+tcp://10.99.0.1/system" | null,
#      "mgmt_ip": "10.99.0.1", "migration_uri": "tcp://10.99.0.1", "encap_ip": "10.99.1.1", "chassis": "nubes-hosta",
#      "netns": null, "ovs_db": "unix:/var/run/openvswitch/db.sock", "bridges": [...],
#      "gateway": true, "bridge_mappings": "physnet1:br-ex"},
#     {"name": "nubes-hostb", "uri": "qemu+tcp://10.99.0.2/system", "tcp_uri": same,
#      "mgmt_ip": "10.99.0.2", "migration_uri": "tcp://10.99.0.2", "encap_ip": "10.99.1.2", "chassis": "nubes-hostb",
#      "netns": "nubes-hostb", "exec": "/work/main/lab/hostb.sh", "ovs_db": "unix:<path>", ...}
#   ],
#   "ovn": {"nb": "tcp:10.99.0.1:6641", "sb": "tcp:10.99.0.1:6642", "encap_type": "geneve",
#           "integration_bridge": "br-int"},
#   "provider": {"netns": "nubes-provider", "physnet": "physnet1", "bridge": "br-ex",
#                "cidr": "172.31.250.0/24", "gateway": "172.31.250.1",
#                "floating_ip_range": ["172.31.250.100", "172.31.250.199"]},
#   "pools": [{"name": "nubes-shared", "path": "/var/lib/nubes-lab/shared", "hosts": ["nubes-hosta","nubes-hostb"], "shared": true},
#             {"name": "nubes-local", "path": "/var/lib/nubes-lab/local-a", "hosts": ["nubes-hosta"], "shared": false}],
#   "guest": {"kernel": "/var/lib/nubes-lab/images/vmlinuz", "initrd": ".../initrd.img",
#             "cmdline": "console=ttyS0 clocksource=acpi_pm no_timer_check", "kernel_version": "...",
#             "memory_mib": 256, "serial_log_dir": "/var/lib/nubes-lab/serial",
#             "heartbeat_regex": "nubes-heartbeat (\\d+)", "domain_prefix": "nubes-",
#             "domain_xml_tool": "/work/main/lab/guest/domain_xml.py"},
#   "namespaces": ["nubes-hostb", "nubes-provider"],
#   "veths": [...], "bridges": {"nubes-hosta": [...], "nubes-hostb": [...]},
#   "processes": [{"name": "libvirtd-b", "pid": 123, "exe": "libvirtd", "pidfile": "..."}, ...],
#   "reused": ["libvirtd-a", ...],              # already running before the lab; down.sh leaves them
#   "timings_s": {"up": 42.0}
# }
# Domains the lab or its tests create are named "nubes-*" (down.sh destroys
# those on host A and every domain on host B).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# Which command stopped it, for a log read after the fact (CI keeps only the end of its output).
trap 'rc=$?; echo "[lab] up.sh stopped (exit $rc) at line $LINENO: $BASH_COMMAND" >&2' ERR
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
T0=$(now_ms)

[ "$(id -u)" = 0 ] || die "run as root"
mkdir -p "$STATE" "$LOGS" "$NSDIR" "$STATE/ovs-a" "$OVN_CENTRAL" "$OVN_A_RUN" "$HB"
touch "$STARTED"
REUSED_FILE="$STATE/reused"; : > "$REUSED_FILE"
# Runtime dirs the lab (or its daemons) create on the shared filesystem;
# down.sh removes them if the lab made them.
for d in /run/libvirt /var/run/openvswitch /run/ovn; do
    [ -e "$d" ] || echo "$d" >> "$STATE/created_dirs"
done

"$LAB/install.sh"
"$LAB/guest/build.sh"
# The service catalog's database image (cached by recipe; a first build takes ~13 min). The
# lab works without it: its registration and its lab tests then say it is missing.
"$LAB/service-guest/build.sh" || log "the service guest image was not built (see above): no service template"

step() { local ms=$(( $(now_ms) - T0 )); log "$(printf '%3d.%ds' $((ms / 1000)) $((ms % 1000 / 100))) $*"; }

# ---------------------------------------------------------------- data dirs
mkdir -p "$POOL_SHARED_PATH" "$POOL_LOCAL_PATH" "$IMAGES" "$SERIAL"
chmod 755 "$DATA" "$POOL_SHARED_PATH" "$POOL_LOCAL_PATH" "$IMAGES" "$SERIAL"
source "$LAB/build/guest/guest.env"
install -m 0644 "$KERNEL" "$IMAGES/vmlinuz"
install -m 0644 "$INITRD" "$IMAGES/initrd.img"

# ---------------------------------------------------------------- network namespaces and links
step "namespaces and links"
ip netns list | has -w "^$NETNS_B" || ip netns add "$NETNS_B"
ip netns list | has -w "^$NETNS_P" || ip netns add "$NETNS_P"
ip -n "$NETNS_B" link set lo up
ip -n "$NETNS_P" link set lo up

make_veth() {  # a-name a-ns b-name b-ns   (ns "" = root)
    local a="$1" ans="$2" b="$3" bns="$4"
    local nsa=(); [ -n "$ans" ] && nsa=(-n "$ans")
    local nsb=(); [ -n "$bns" ] && nsb=(-n "$bns")
    if ! ip "${nsa[@]}" link show "$a" >/dev/null 2>&1; then
        ip link add "$a" type veth peer name "$b"
        [ -n "$ans" ] && ip link set "$a" netns "$ans"
        [ -n "$bns" ] && ip link set "$b" netns "$bns"
    fi
    ip "${nsa[@]}" link set "$a" up
    ip "${nsb[@]}" link set "$b" up
    # Checksum offload off, or TCP across the userspace datapath fails.
    if [ -n "$ans" ]; then ip netns exec "$ans" ethtool -K "$a" tx off >/dev/null 2>&1 || true
    else ethtool -K "$a" tx off >/dev/null 2>&1 || true; fi
    if [ -n "$bns" ]; then ip netns exec "$bns" ethtool -K "$b" tx off >/dev/null 2>&1 || true
    else ethtool -K "$b" tx off >/dev/null 2>&1 || true; fi
}
make_veth "$VETH_MGMT_A" "" "$VETH_MGMT_B" "$NETNS_B"
make_veth "$VETH_TUN_A" "" "$VETH_TUN_B" "$NETNS_B"
make_veth "$VETH_PROV_A" "" "$VETH_PROV_P" "$NETNS_P"
ip addr show dev "$VETH_MGMT_A" | has "inet $MGMT_A/" || ip addr add "$MGMT_A/24" dev "$VETH_MGMT_A"
ip -n "$NETNS_B" addr show dev "$VETH_MGMT_B" | has "inet $MGMT_B/" || ip -n "$NETNS_B" addr add "$MGMT_B/24" dev "$VETH_MGMT_B"
ip -n "$NETNS_P" addr show dev "$VETH_PROV_P" | has "inet $PROVIDER_GW/" || ip -n "$NETNS_P" addr add "$PROVIDER_GW/24" dev "$VETH_PROV_P"

# ---------------------------------------------------------------- host B mount + UTS namespaces
if ! hostb_ready; then
    step "host B namespaces"
    # The namespace files must live on a private mount (as ip netns does for /run/netns).
    mountpoint -q "$NSDIR" || { mount --bind "$NSDIR" "$NSDIR"; mount --make-private "$NSDIR"; }
    touch "$NSDIR/hostb.mnt" "$NSDIR/hostb.uts"
    # Private dirs: fresh each time host B is (re)created.
    rm -rf "$HB"; mkdir -p "$HB"/{run-libvirt,var-lib-libvirt,log-libvirt,run-openvswitch,etc-openvswitch,log-openvswitch,run-ovn}
    # libvirt's QEMU capability cache survives down.sh (saves ~8 s on the next up).
    mkdir -p "$STATE/cache/hostb-libvirt-cache"
    cp -a /etc/libvirt "$HB/etc-libvirt"
    # Host A's persistent domains, networks and pools are not host B's.
    find "$HB/etc-libvirt/qemu" -maxdepth 1 -name '*.xml' -delete
    rm -rf "$HB/etc-libvirt/qemu/networks" "$HB/etc-libvirt/storage" "$HB/etc-libvirt/qemu/autostart"
    mkdir -p "$HB/etc-libvirt/qemu/networks"
    HOST_UUID_B="$(cat /proc/sys/kernel/random/uuid)"
    cat >> "$HB/etc-libvirt/libvirtd.conf" <<CONF

# --- Nubes lab host B ---
listen_tls = 0
listen_tcp = 1
listen_addr = "$MGMT_B"
auth_tcp = "none"
host_uuid = "$HOST_UUID_B"
CONF
    cat >> "$HB/etc-libvirt/qemu.conf" <<CONF

# --- Nubes lab host B ---
migration_host = "$MGMT_B"
CONF
    echo "$HOST_UUID_B" > "$HB/host_uuid"
    unshare --mount="$NSDIR/hostb.mnt" --uts="$NSDIR/hostb.uts" --propagation private true
    hostb /bin/sh -eu -c '
        HB="$1"; NAME="$2"
        hostname "$NAME"
        # sysfs of this network namespace; it hides the cgroup mounts: put them back.
        mount -t sysfs sysfs /sys
        mount -t tmpfs -o mode=755 cgroup_root /sys/fs/cgroup
        for c in cpu cpuacct cpuset memory devices freezer blkio pids; do
            mkdir -p /sys/fs/cgroup/$c
            mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c 2>/dev/null || rmdir /sys/fs/cgroup/$c
        done
        mkdir -p /sys/fs/cgroup/systemd /sys/fs/cgroup/unified
        mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd || true
        mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified || true
        mkdir -p /run/libvirt /var/lib/libvirt /etc/libvirt /var/log/libvirt /var/cache/libvirt \
                 /run/openvswitch /etc/openvswitch /var/log/openvswitch /run/ovn
        mount --bind "$HB/run-libvirt" /run/libvirt
        mount --bind "$HB/var-lib-libvirt" /var/lib/libvirt
        mount --bind "$HB/etc-libvirt" /etc/libvirt
        mount --bind "$HB/log-libvirt" /var/log/libvirt
        mount --bind "$3" /var/cache/libvirt
        mount --bind "$HB/run-openvswitch" /run/openvswitch
        mount --bind "$HB/etc-openvswitch" /etc/openvswitch
        mount --bind "$HB/log-openvswitch" /var/log/openvswitch
        mount --bind "$HB/run-ovn" /run/ovn
    ' sh "$HB" "$HOSTNAME_B" "$STATE/cache/hostb-libvirt-cache"
fi

# ---------------------------------------------------------------- Open vSwitch
# start_ovs <label> <runner...>: runner is "" for host A or "hostb" for host B.
start_ovs() {  # label db rundir rundir-as-seen-from-here [runner]
    local label="$1" db="$2" run="$3" seen="$4"; shift 4
    local runner=("$@")
    if ! started_alive "ovsdb-server-$label"; then
        if [ "$label" = a ] && pid_alive "$(pid_from_file "$run/ovsdb-server.pid" || true)" ovsdb-server; then
            echo "ovsdb-server-a" >> "$REUSED_FILE"
        else
            [ -s "$db" ] || ovsdb-tool create "$db" /usr/share/openvswitch/vswitch.ovsschema
            "${runner[@]}" ovsdb-server "$db" --remote="punix:$run/db.sock" \
                --remote=db:Open_vSwitch,Open_vSwitch,manager_options \
                --pidfile="$run/ovsdb-server.pid" --unixctl="$run/ovsdb-server.ctl" \
                --log-file="$LOGS/ovsdb-server-$label.log" --detach --no-chdir >/dev/null 2>&1
            record_started "ovsdb-server-$label" ovsdb-server "$seen/ovsdb-server.pid"
        fi
    fi
    "${runner[@]}" ovs-vsctl --db="unix:$run/db.sock" --no-wait init
    if ! started_alive "ovs-vswitchd-$label"; then
        if [ "$label" = a ] && pid_alive "$(pid_from_file "$run/ovs-vswitchd.pid" || true)" ovs-vswitchd; then
            echo "ovs-vswitchd-a" >> "$REUSED_FILE"
        else
            "${runner[@]}" ovs-vswitchd "unix:$run/db.sock" --pidfile="$run/ovs-vswitchd.pid" \
                --unixctl="$run/ovs-vswitchd.ctl" --log-file="$LOGS/ovs-vswitchd-$label.log" \
                --detach --no-chdir >/dev/null 2>&1
            record_started "ovs-vswitchd-$label" ovs-vswitchd "$seen/ovs-vswitchd.pid"
        fi
    fi
}
step "Open vSwitch (userspace datapath) on both hosts"
mkdir -p "$OVS_A_RUN"
start_ovs a "$OVS_A_DB" "$OVS_A_RUN" "$OVS_A_RUN"
start_ovs b "$OVS_B_DB" /run/openvswitch "$HB/run-openvswitch" hostb

VSCTL_A=(ovs-vsctl --db="unix:$OVS_A_RUN/db.sock" --timeout=20)
VSCTL_B=(hostb ovs-vsctl --db=unix:/run/openvswitch/db.sock --timeout=20)
for br in $BRIDGES_A; do "${VSCTL_A[@]}" --may-exist add-br "$br" -- set bridge "$br" datapath_type=netdev; done
for br in $BRIDGES_B; do "${VSCTL_B[@]}" --may-exist add-br "$br" -- set bridge "$br" datapath_type=netdev; done
"${VSCTL_A[@]}" --may-exist add-port br-phy "$VETH_TUN_A"
"${VSCTL_A[@]}" --may-exist add-port br-ex "$VETH_PROV_A"
"${VSCTL_B[@]}" --may-exist add-port br-phy "$VETH_TUN_B"
ip link set br-phy up; ip link set br-ex up; ip link set br-int up
ip -n "$NETNS_B" link set br-phy up; ip -n "$NETNS_B" link set br-int up
ip addr show dev br-phy | has "inet $TUN_A/" || ip addr add "$TUN_A/24" dev br-phy
ip -n "$NETNS_B" addr show dev br-phy | has "inet $TUN_B/" || ip -n "$NETNS_B" addr add "$TUN_B/24" dev br-phy
ethtool -K br-phy tx off >/dev/null 2>&1 || true
ip netns exec "$NETNS_B" ethtool -K br-phy tx off >/dev/null 2>&1 || true

# ---------------------------------------------------------------- OVN central
step "OVN central (NB, SB, northd)"
start_ovn_db nb 6641
start_ovn_db sb 6642
if ! started_alive ovn-northd; then
    OVN_RUNDIR="$OVN_CENTRAL" ovn-northd --ovnnb-db="unix:$OVN_CENTRAL/ovnnb_db.sock" \
        --ovnsb-db="unix:$OVN_CENTRAL/ovnsb_db.sock" --pidfile="$OVN_CENTRAL/ovn-northd.pid" \
        --unixctl="$OVN_CENTRAL/ovn-northd.ctl" --log-file="$LOGS/ovn-northd.log" \
        --detach --no-chdir >/dev/null 2>&1
    record_started ovn-northd ovn-northd "$OVN_CENTRAL/ovn-northd.pid"
fi
ovn-nbctl --db="unix:$OVN_CENTRAL/ovnnb_db.sock" --timeout=20 init 2>/dev/null || true

# ---------------------------------------------------------------- OVN controllers
step "ovn-controller on both hosts"
"${VSCTL_A[@]}" set open_vswitch . external_ids:system-id="$CHASSIS_A" \
    external_ids:hostname="$CHASSIS_A" external_ids:ovn-remote="$OVN_SB" \
    external_ids:ovn-encap-type=geneve external_ids:ovn-encap-ip="$TUN_A" \
    external_ids:ovn-bridge=br-int external_ids:ovn-bridge-mappings="$PHYSNET:br-ex" \
    external_ids:ovn-cms-options=enable-chassis-as-gw
"${VSCTL_B[@]}" set open_vswitch . external_ids:system-id="$CHASSIS_B" \
    external_ids:hostname="$CHASSIS_B" external_ids:ovn-remote="$OVN_SB" \
    external_ids:ovn-encap-type=geneve external_ids:ovn-encap-ip="$TUN_B" \
    external_ids:ovn-bridge=br-int
if ! started_alive ovn-controller-a; then
    OVN_RUNDIR="$OVN_A_RUN" ovn-controller "unix:$OVS_A_RUN/db.sock" \
        --pidfile="$OVN_A_RUN/ovn-controller.pid" --log-file="$LOGS/ovn-controller-a.log" \
        --detach --no-chdir >/dev/null 2>&1
    record_started ovn-controller-a ovn-controller "$OVN_A_RUN/ovn-controller.pid"
fi
if ! started_alive ovn-controller-b; then
    hostb env OVN_RUNDIR=/run/ovn ovn-controller unix:/run/openvswitch/db.sock \
        --pidfile=/run/ovn/ovn-controller.pid --log-file="$LOGS/ovn-controller-b.log" \
        --detach --no-chdir >/dev/null 2>&1
    record_started ovn-controller-b ovn-controller "$OVN_B_RUN/ovn-controller.pid"
fi

# ---------------------------------------------------------------- VNC TLS (both hosts)
step "VNC TLS certificates and qemu.conf"
"$LAB/vnc-tls.sh"

# ---------------------------------------------------------------- libvirt, host A
step "libvirt on host A"
start_daemon_a() {  # name exe pidfile args...
    local name="$1" exe="$2" pidfile="$3"; shift 3
    started_alive "$name" && return 0
    if pid_alive "$(pid_from_file "$pidfile" || true)" "$exe"; then
        echo "$name" >> "$REUSED_FILE"; return 0
    fi
    "/usr/sbin/$exe" "$@" >"$LOGS/$name.out" 2>&1
    record_started "$name" "$exe" "$pidfile"
}
start_daemon_a virtlogd-a virtlogd /run/virtlogd.pid -d
start_daemon_a virtlockd-a virtlockd /run/virtlockd.pid -d
HOSTA_TCP=null
if grep -qx libvirtd-a "$REUSED_FILE" 2>/dev/null || \
   { ! started_alive libvirtd-a && pid_alive "$(pid_from_file /run/libvirtd.pid || true)" libvirtd; }; then
    grep -qx libvirtd-a "$REUSED_FILE" || echo libvirtd-a >> "$REUSED_FILE"
else
    if ! started_alive libvirtd-a; then
        mkdir -p "$STATE/hosta"
        cp /etc/libvirt/libvirtd.conf "$STATE/hosta/libvirtd.conf"
        cat >> "$STATE/hosta/libvirtd.conf" <<CONF

# --- Nubes lab host A (this copy is used only by the libvirtd the lab starts) ---
listen_tls = 0
listen_tcp = 1
listen_addr = "$MGMT_A"
auth_tcp = "none"
CONF
        /usr/sbin/libvirtd -d --listen -f "$STATE/hosta/libvirtd.conf" -p /run/libvirtd.pid >"$LOGS/libvirtd-a.out" 2>&1
        record_started libvirtd-a libvirtd /run/libvirtd.pid
    fi
    HOSTA_TCP="\"$URI_A_TCP\""
fi

# ---------------------------------------------------------------- libvirt, host B
step "libvirt on host B"
if ! started_alive virtlogd-b; then
    hostb /usr/sbin/virtlogd -d -p /run/libvirt/virtlogd.pid >"$LOGS/virtlogd-b.out" 2>&1
    record_started virtlogd-b virtlogd "$HB/run-libvirt/virtlogd.pid"
fi
start_libvirtd_b

wait_virsh() {  # uri
    for _ in $(seq 60); do
        timeout 30 virsh -q -c "$1" version >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    die "$1 does not answer; see $LOGS"
}
# The first qemu:///system call probes QEMU (~8 s per host): do both at once.
wait_virsh "$URI_A" & WA=$!
wait_virsh "$URI_B" & WB=$!
wait $WA; wait $WB

# ---------------------------------------------------------------- storage pools
step "storage pools"
define_pool() {  # uri name path
    local uri="$1" name="$2" path="$3" xml
    if ! virsh -q -c "$uri" pool-info "$name" >/dev/null 2>&1; then
        xml="$(mktemp)"
        cat > "$xml" <<XML
<pool type='dir'>
  <name>$name</name>
  <target><path>$path</path></target>
</pool>
XML
        virsh -q -c "$uri" pool-define "$xml" >/dev/null
        rm -f "$xml"
    fi
    virsh -q -c "$uri" pool-info "$name" | has 'State:.*running' || virsh -q -c "$uri" pool-start "$name" >/dev/null
    virsh -q -c "$uri" pool-autostart "$name" >/dev/null 2>&1 || true
}
define_pool "$URI_A" "$POOL_SHARED" "$POOL_SHARED_PATH"
define_pool "$URI_B" "$POOL_SHARED" "$POOL_SHARED_PATH"
define_pool "$URI_A" "$POOL_LOCAL" "$POOL_LOCAL_PATH"

# ---------------------------------------------------------------- storage node (SAN + NAS)
step "storage node: iSCSI (tgtd) and GlusterFS in netns nubes-storage"
"$LAB/storage.sh" up

# ---------------------------------------------------------------- KVM detection (cached)
step "KVM detection"
"$LAB/kvm_check.sh"

# ---------------------------------------------------------------- wait for OVN chassis
step "waiting for both chassis in the OVN SB"
for _ in $(seq 60); do
    # A Southbound that does not answer yet is one more try, not the end (set -e, pipefail).
    chassis="$(ovn-sbctl --db="$OVN_SB" --timeout=5 --bare --columns=name list Chassis 2>/dev/null | sort | tr '\n' ' ')" || true
    case "$chassis" in *"$CHASSIS_A"*"$CHASSIS_B"*) break ;; esac
    sleep 0.5
done
case "$chassis" in *"$CHASSIS_A"*"$CHASSIS_B"*) ;; *) die "chassis not registered in SB (got: $chassis); see $LOGS" ;; esac

# ---------------------------------------------------------------- lab.json
export LAB STATE LAB_JSON STARTED NETNS_B NETNS_P MGMT_A MGMT_B TUN_A TUN_B URI_A URI_B URI_A_TCP \
    OVN_NB OVN_SB CHASSIS_A CHASSIS_B PHYSNET PROVIDER_CIDR PROVIDER_GW PROVIDER_FIP_FIRST \
    PROVIDER_FIP_LAST POOL_SHARED POOL_SHARED_PATH POOL_LOCAL POOL_LOCAL_PATH IMAGES SERIAL \
    DOMAIN_PREFIX BRIDGES_A BRIDGES_B ALL_VETHS OVS_A_RUN HB NSDIR KERNEL_VERSION CMDLINE
export LABJ_UP_S="$(( $(now_ms) - T0 ))e-3" LABJ_HOSTA_TCP="$HOSTA_TCP" LABJ_REUSED_FILE="$REUSED_FILE"
python3 "$LAB/lab_json.py"
step "done: $LAB_JSON"
"$LAB/status.sh" || true
