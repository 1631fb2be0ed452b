#!/bin/bash
# List anything of the Nubes lab still present: recorded processes, processes
# in its namespaces or using its state dir, QEMU guests named nubes-*,
# namespaces, links, mounts, sockets, pools, domains and files.
# Prints one line per leftover; exit 0 if nothing is left, 1 otherwise.
# (It only looks; it never kills anything.)
set -uo pipefail
source "$(dirname "$0")/lib.sh"
n=0
left() { echo "leftover: $*"; n=$((n + 1)); }

if [ -s "$STARTED" ]; then
    while read -r name pid exe pidfile; do
        [ -n "$name" ] && pid_alive "$pid" "$exe" && left "process $name pid $pid ($exe)"
    done < "$STARTED"
fi
# nubes-bench-nfs: bench/storage_pools_lab.py's own NFS server (nfs-ganesha + rpcbind), link nubes-bnfs0.
for ns in "$NETNS_B" "$NETNS_P" nubes-bench-nfs; do
    [ -e "/run/netns/$ns" ] && left "netns $ns"
done
ip link show nubes-bnfs0 >/dev/null 2>&1 && left "link nubes-bnfs0"
for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    [ "$pid" = $$ ] && continue
    { cmd="$(tr '\0' ' ' < "/proc/$pid/cmdline")"; } 2>/dev/null || continue
    [ -n "$cmd" ] || continue
    case "$cmd" in
        *leftovers.sh*) continue ;;
        *"$STATE/"*|*"$DATA/"*|*"guest=$DOMAIN_PREFIX"*|*"dnsmasq/$DOMAIN_PREFIX"*) left "process $pid: ${cmd:0:160}" ;;
    esac
done
for l in $ALL_VETHS; do
    ip link show "$l" >/dev/null 2>&1 && left "link $l"
done
# Bridges' internal ports exist as kernel links only while some OVS has them.
for br in $BRIDGES_A; do
    if ip link show "$br" >/dev/null 2>&1; then
        left "link/bridge $br"
    fi
done
grep -F " $STATE" /proc/self/mountinfo | awk '{print $5}' | while read -r m; do echo "leftover: mount $m"; done
nm="$(grep -cF " $STATE" /proc/self/mountinfo)"; n=$((n + nm))
ss -Hltn 2>/dev/null | awk '{print $4}' | grep -E '^(10\.99\.|172\.31\.250\.)' | while read -r s; do echo "leftover: listening socket $s"; done
ns_="$(ss -Hltn 2>/dev/null | awk '{print $4}' | grep -cE '^(10\.99\.|172\.31\.250\.)')"; n=$((n + ns_))
ip -4 addr show 2>/dev/null | has -E 'inet (10\.99\.[01]\.|172\.31\.250\.)' && left "an address of the lab is still configured"
[ -e "$DATA" ] && left "directory $DATA"
for f in /etc/libvirt/storage/"$POOL_SHARED".xml /etc/libvirt/storage/"$POOL_LOCAL".xml /etc/libvirt/qemu/"$DOMAIN_PREFIX"*.xml; do
    [ -e "$f" ] && left "file $f"
done
if [ -S /run/libvirt/libvirt-sock ]; then
    for d in $(timeout 30 virsh -q -c "$URI_A" list --all --name 2>/dev/null); do
        [[ "$d" == "$DOMAIN_PREFIX"* ]] && left "domain $d on $URI_A"
    done
    for p in $(timeout 30 virsh -q -c "$URI_A" pool-list --all --name 2>/dev/null); do
        [[ "$p" == "$POOL_SHARED" || "$p" == "$POOL_LOCAL" ]] && left "pool $p on $URI_A"
    done
fi
# Serial logs of guests no host defines any more (a test or bench that removed its domain but not
# its log; the portal's instance delete removes the log): $SERIAL/nubes-<uuid>-serial.log (the
# portal's) or $SERIAL/<domain>.log (lab/guest/boot_test.py's).
if [ -S /run/libvirt/libvirt-sock ] && [ -d "$SERIAL" ]; then
    domains=" $(timeout 30 virsh -q -c "$URI_A" list --all --name 2>/dev/null | tr '\n' ' ') "
    [ -e "/run/netns/$NETNS_B" ] && domains="$domains$(timeout 30 virsh -q -c "$URI_B" list --all --name 2>/dev/null | tr '\n' ' ') "
    for f in "$SERIAL/$DOMAIN_PREFIX"*.log; do
        [ -e "$f" ] || continue
        d="$(basename "$f" .log)"; d="${d%-serial}"
        [[ "$domains" == *" $d "* ]] || left "serial log $f (no domain $d on the hosts)"
    done
fi
STORAGE_FUNCS_ONLY=1 source "$LAB/storage.sh"; leftovers
# What the portal made on the hosts (lab/clean-portal.sh removes it): libvirt networks
# nubes-<uuid>, bridges nb<12 hex> and the iptables rules naming them, on host A and inside host B.
PORTAL_BRIDGE='nb[0-9a-f]{12}'
for f in /etc/libvirt/qemu/networks/"$DOMAIN_PREFIX"*.xml "$HB"/etc-libvirt/qemu/networks/"$DOMAIN_PREFIX"*.xml; do
    [ -e "$f" ] && left "file $f (a network the portal defined)"
done
portal_net_uris=""
[ -S /run/libvirt/libvirt-sock ] && portal_net_uris="$URI_A"
[ -e "/run/netns/$NETNS_B" ] && portal_net_uris="$portal_net_uris $URI_B"
for uri in $portal_net_uris; do
    for w in $(timeout 30 virsh -q -c "$uri" net-list --all --name 2>/dev/null); do
        [[ "$w" == "$DOMAIN_PREFIX"* ]] && left "libvirt network $w on $uri"
    done
done
portal_net_places="root"
[ -e "/run/netns/$NETNS_B" ] && portal_net_places="root $NETNS_B"
for place in $portal_net_places; do
    run=""; where="";
    [ "$place" = root ] || { run="ip netns exec $place"; where=" in netns $place"; }
    for br in $($run ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E "^$PORTAL_BRIDGE\$"); do
        left "bridge $br$where (a portal network's)"
    done
    for save in iptables-save ip6tables-save; do
        command -v "$save" >/dev/null || continue
        nr="$($run "$save" 2>/dev/null | grep -cE "^-A .* $PORTAL_BRIDGE( |\$)")"
        [ "$nr" = 0 ] || left "$nr ${save%-save} rule(s)$where naming a portal network's bridge"
    done
done
# The userspace datapath's tap device outlives ovs-vswitchd.
if ip link show ovs-netdev >/dev/null 2>&1; then
    vswitchd=0
    for pid in $(ls /proc | grep -E '^[0-9]+$'); do
        [ "$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null)" 2>/dev/null)" = ovs-vswitchd ] && vswitchd=1 && break
    done
    [ $vswitchd = 1 ] || left "link ovs-netdev (no ovs-vswitchd runs)"
fi
# Files the lab's daemons made, told by birth time after the lab's start (down.sh keeps it).
UP_SINCE="$(cat "$STATE/cache/up-since" 2>/dev/null || echo 0)"
if [ "${UP_SINCE:-0}" -gt 0 ]; then
    for f in /etc/libvirt/qemu/networks/default.xml /var/log/libvirt/libvirtd.log /var/log/libvirt/virtlogd.log \
             /var/log/libvirt/virtlockd.log /var/log/openvswitch/*.log /var/log/ovn/*.log; do
        [ -e "$f" ] || continue
        born="$(stat -c %W "$f" 2>/dev/null || echo 0)"
        [ "$born" -ge "$UP_SINCE" ] && left "file $f (made while the lab ran)"
    done
fi
# Cgroups libvirt made for guests, left empty once no libvirtd runs.
if ! [ -S /run/libvirt/libvirt-sock ]; then
    for m in /sys/fs/cgroup/*/machine; do
        [ -d "$m" ] || continue
        [ -z "$(find "$m" -name cgroup.procs -exec cat {} + 2>/dev/null)" ] && left "empty cgroup $m"
    done
fi
[ -e "$LAB_JSON" ] && left "file $LAB_JSON"
# The fleet (lab/fleet-up.sh): its processes, files and database.
if [ -s "$FLEET_STARTED" ]; then
    while read -r name pid start; do
        [ -n "$name" ] && fleet_alive "$pid" "$start" && left "fleet process $name pid $pid"
    done < "$FLEET_STARTED"
fi
[ -e "$FLEET" ] && left "directory $FLEET"
if command -v psql >/dev/null && psql -At -h 127.0.0.1 -U postgres -c "SELECT 1 FROM pg_database WHERE datname = '$FLEET_DB'" 2>/dev/null | has -x 1; then
    left "database $FLEET_DB"
fi
if [ $n = 0 ]; then echo "no leftovers of the lab"; exit 0; fi
echo "$n leftover(s)"
exit 1
