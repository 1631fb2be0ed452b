#!/bin/bash
# Tear the Nubes lab down: every domain named nubes-* on host A and every
# domain on host B, the lab's pools, the processes up.sh started (by their
# recorded PIDs, never by name), the namespaces, links, bridges and files it
# made, and only those. Daemons that were running before the lab are left
# alone. Safe to run when nothing is up.
# Keeps lab/state/cache (KVM check) and lab/state/logs; --purge removes them
# and lab/build too (the guest build cached in /var/cache/nubes stays: it is keyed by its recipe).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root"
PURGE=0; [ "${1:-}" = "--purge" ] && PURGE=1

is_started() { [ -s "$STARTED" ] && awk -v n="$1" '$1==n{f=1} END{exit !f}' "$STARTED"; }
libvirt_up() { timeout 20 virsh -q -c "$1" version >/dev/null 2>&1; }

remove_domains() {  # uri qemu-run-dir filter(all|prefix)
    local uri="$1" rundir="$2" filter="$3" d
    if libvirt_up "$uri"; then
        for d in $(timeout 30 virsh -q -c "$uri" list --all --name 2>/dev/null); do
            [ "$filter" = all ] || [[ "$d" == "$DOMAIN_PREFIX"* ]] || continue
            timeout 30 virsh -q -c "$uri" destroy "$d" >/dev/null 2>&1 || true
            timeout 30 virsh -q -c "$uri" undefine "$d" --managed-save --snapshots-metadata --checkpoints-metadata --nvram >/dev/null 2>&1 \
              || timeout 30 virsh -q -c "$uri" undefine "$d" >/dev/null 2>&1 || true
            log "removed domain $d from $uri"
        done
    fi
    # libvirtd gone but a guest survived: its QEMU pid is in libvirt's pidfile.
    local pf pid
    for pf in "$rundir"/*.pid; do
        [ -e "$pf" ] || continue
        d="$(basename "$pf" .pid)"
        [ "$filter" = all ] || [[ "$d" == "$DOMAIN_PREFIX"* ]] || continue
        pid="$(pid_from_file "$pf" || true)"
        pid_alive "$pid" qemu-system-x86_64 && kill_pid "qemu $d" "$pid" qemu-system-x86_64
    done
}

remove_pools() {  # uri names...
    local uri="$1"; shift
    libvirt_up "$uri" || return 0
    for p in "$@"; do
        timeout 20 virsh -q -c "$uri" pool-info "$p" >/dev/null 2>&1 || continue
        timeout 20 virsh -q -c "$uri" pool-destroy "$p" >/dev/null 2>&1 || true
        timeout 20 virsh -q -c "$uri" pool-undefine "$p" >/dev/null 2>&1 || true
        log "removed pool $p from $uri"
    done
}

# 0. The fleet (lab/fleet-up.sh) first: its workers use the lab's daemons.
"$LAB/fleet-down.sh" || warn "lab/fleet-down.sh failed; going on"

# 1. Guests, pools and networks the portal made, while the libvirtds still answer.
"$LAB/storage.sh" down
"$LAB/clean-portal.sh"
if hostb_ready && is_started libvirtd-b; then
    remove_domains "$URI_B" "$HB/run-libvirt/qemu" all
    remove_pools "$URI_B" "$POOL_SHARED"
fi
if [ -S /run/libvirt/libvirt-sock ]; then
    remove_domains "$URI_A" /run/libvirt/qemu prefix
    remove_pools "$URI_A" "$POOL_SHARED" "$POOL_LOCAL"
fi

# 2. Bridges on a host-A Open vSwitch that was not ours.
if [ -s "$STATE/reused" ] && grep -qx ovsdb-server-a "$STATE/reused"; then
    for br in $BRIDGES_A; do ovs-vsctl --timeout=10 --if-exists del-br "$br" 2>/dev/null || true; done
    ovs-vsctl --timeout=10 remove open_vswitch . external_ids ovn-remote ovn-encap-type ovn-encap-ip \
        ovn-bridge ovn-bridge-mappings ovn-cms-options 2>/dev/null || true
fi

# What the lab's daemons made on the shared filesystem is told by its birth time: at or after
# the lab's start (lab/state/started is created first thing by up.sh). Kept for leftovers.sh.
UP_SINCE=0
if [ -e "$STARTED" ]; then
    UP_SINCE="$(stat -c %W "$STARTED" 2>/dev/null || echo 0)"
    mkdir -p "$STATE/cache" && echo "$UP_SINCE" > "$STATE/cache/up-since"
fi
born_in_lab() {  # file: made while the lab ran (0 = the filesystem keeps no birth time)
    local born; born="$(stat -c %W "$1" 2>/dev/null || echo 0)"
    [ "$UP_SINCE" -gt 0 ] && [ "$born" -ge "$UP_SINCE" ]
}

# 3. Processes, newest first, by recorded pid.
if [ -s "$STARTED" ]; then
    tac "$STARTED" | while read -r name pid exe pidfile; do
        [ -n "$name" ] || continue
        case "$exe" in
            ovs-vswitchd)  # let it delete its datapath ports cleanly first
                ctl="$(dirname "$pidfile")/ovs-vswitchd.ctl"
                if pid_alive "$pid" "$exe" && [ -S "$ctl" ]; then
                    timeout 10 ovs-appctl -t "$ctl" exit --cleanup >/dev/null 2>&1 || true
                fi ;;
        esac
        kill_pid "$name" "$pid" "$exe"
    done
fi
# A libvirtd we did not start still lists our pools' files only if it defined them;
# with libvirtd A gone, drop the definitions we left in /etc/libvirt.
if is_started libvirtd-a || [ ! -S /run/libvirt/libvirt-sock ]; then
    for p in "$POOL_SHARED" "$POOL_LOCAL"; do
        rm -f "/etc/libvirt/storage/$p.xml" "/etc/libvirt/storage/autostart/$p.xml"
    done
fi

# The VNC TLS block lab/vnc-tls.sh added to host A's qemu.conf (host B's copy goes with it).
if is_started libvirtd-a && ! started_alive libvirtd-a; then
    sed -i '/^# --- Nubes lab VNC TLS (made by vnc-tls.sh) ---$/,/^# --- end Nubes lab VNC TLS ---$/d' /etc/libvirt/qemu.conf
fi

# Portal-made networks that a libvirtd now gone could not remove (dnsmasq by its pid file).
"$LAB/clean-portal.sh"
if is_started libvirtd-a && ! started_alive libvirtd-a; then
    # libvirtd writes the default network's definition on its first start; ours made it.
    for f in /etc/libvirt/qemu/networks/default.xml /etc/libvirt/qemu/networks/autostart/default.xml; do
        [ -e "$f" ] && born_in_lab "$f" && rm -f "$f" && log "removed $f (made by the lab's libvirtd)"
    done
    # Cgroups libvirt made for guests (non-systemd hosts: <controller>/machine/...). rmdir only
    # ever removes a cgroup without processes or children, so a busy one stays.
    for m in /sys/fs/cgroup/*/machine; do
        [ -d "$m" ] || continue
        find "$m" -depth -type d -exec rmdir {} \; 2>/dev/null
        [ -d "$m" ] || log "removed empty cgroup $m"
    done
fi
# Logs the lab's daemons started (not the ones they appended to).
for f in /var/log/libvirt/libvirtd.log /var/log/libvirt/virtlogd.log /var/log/libvirt/virtlockd.log \
         /var/log/openvswitch/*.log /var/log/ovn/*.log; do
    [ -e "$f" ] && born_in_lab "$f" && rm -f "$f" && log "removed log $f"
done

# 4. Namespaces and links.
"$LAB/storage.sh" cleanup
for f in "$NSDIR/hostb.mnt" "$NSDIR/hostb.uts"; do
    mountpoint -q "$f" 2>/dev/null && umount "$f" && log "released $(basename "$f")"
done
mountpoint -q "$NSDIR" 2>/dev/null && umount "$NSDIR"
for ns in "$NETNS_B" "$NETNS_P"; do
    if [ -e "/run/netns/$ns" ]; then
        pids="$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
        [ -z "$pids" ] || warn "processes still in netns $ns: $pids (not killed: not recorded by the lab)"
        ip netns del "$ns" && log "deleted netns $ns"
    fi
done
for l in $VETH_MGMT_A $VETH_TUN_A $VETH_PROV_A; do
    ip link show "$l" >/dev/null 2>&1 && ip link del "$l" && log "deleted link $l"
done
# Internal ports of our own (stopped) host-A OVS that survived it, and the tap device its
# userspace datapath makes (ovs-netdev).
if is_started ovs-vswitchd-a; then
    for br in $BRIDGES_A ovs-netdev; do
        ip link show "$br" >/dev/null 2>&1 && ip link del "$br" 2>/dev/null && log "deleted link $br"
    done
fi

# 5. Files: the data dir, libvirt's logs of lab domains, runtime dirs the lab's daemons made.
rm -rf "$DATA"
rm -f /var/log/libvirt/qemu/"$DOMAIN_PREFIX"*.log
if [ -s "$STATE/created_dirs" ]; then
    while read -r d; do
        case "$d" in
            /run/libvirt) pid_alive "$(pid_from_file /run/libvirtd.pid || true)" libvirtd && continue ;;
            /var/run/openvswitch) pid_alive "$(pid_from_file /var/run/openvswitch/ovsdb-server.pid || true)" ovsdb-server && continue ;;
            /run/ovn) ;;
            *) continue ;;
        esac
        rm -rf "$d" && log "removed $d"
    done < "$STATE/created_dirs"
fi
if [ -d "$STATE" ]; then
    find "$STATE" -mindepth 1 -maxdepth 1 ! -name cache ! -name logs -exec rm -rf {} +
fi
rm -f /run/openvswitch/ovs-vswitchd.*.ctl 2>/dev/null || true
if [ $PURGE = 1 ]; then rm -rf "$STATE" "$LAB/build"; fi
log "lab is down"
"$LAB/leftovers.sh" || true
