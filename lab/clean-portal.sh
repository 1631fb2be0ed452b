#!/bin/bash
# Remove what the portal's libvirt network backend made on the lab hosts, and nothing else:
# libvirt networks named nubes-<uuid>, their bridges nb<12 hex>, dnsmasq and iptables rules.
# (The portal no longer realises networks on real hosts, but an older one, or a database seeded
# with the demo, did: issue 20.) Per host: while its libvirtd answers, through libvirt (destroying
# a network also stops its dnsmasq and drops its bridge and rules); once it is gone, by hand from
# the files it left (dnsmasq by its pid file, the bridge named in the definition, every iptables
# rule naming that bridge). lab/down.sh runs it before and after stopping the daemons; it is safe
# to run on a live lab (it touches no guest, pool or lab network). Needs root.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root"

PORTAL_NETWORK='^nubes-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
PORTAL_BRIDGE='^nb[0-9a-f]{12}$'
portal_network() { [[ "$1" =~ $PORTAL_NETWORK ]]; }
libvirt_up() { timeout 20 virsh -q -c "$1" version >/dev/null 2>&1; }

remove_networks() {  # uri
    local uri="$1" n
    for n in $(timeout 30 virsh -q -c "$uri" net-list --all --name 2>/dev/null); do
        portal_network "$n" || continue
        timeout 30 virsh -q -c "$uri" net-destroy "$n" >/dev/null 2>&1 || true
        timeout 30 virsh -q -c "$uri" net-undefine "$n" >/dev/null 2>&1 || true
        log "removed libvirt network $n (bridge, dnsmasq, iptables rules) from $uri"
    done
}

drop_iptables_rules() {  # run-prefix bridge: every rule naming it, in every table (IPv4 and IPv6)
    local run="$1" br="$2" save tool table rule
    for save in iptables-save ip6tables-save; do
        command -v "$save" >/dev/null || continue
        tool="${save%-save}"
        table=""
        $run "$save" 2>/dev/null | while read -r rule; do
            case "$rule" in
                \**) table="${rule#\*}" ;;
                "-A "*" $br "*|"-A "*" $br") eval "$run $tool -t $table -D ${rule#-A }" 2>/dev/null \
                    && log "dropped $tool rule: $rule" ;;
            esac
        done
    done
}

clean_offline() {  # libvirt-run-dir libvirt-etc-dir run-prefix ("" = this namespace; "-" = its namespace is gone)
    local rundir="$1" etc="$2" run="$3" f n br pid
    for f in "$rundir"/network/nubes-*.xml "$etc"/qemu/networks/nubes-*.xml; do
        [ -e "$f" ] || continue
        n="$(basename "$f" .xml)"
        portal_network "$n" || continue
        pid="$(pid_from_file "$rundir/network/$n.pid" || true)"
        pid_alive "$pid" dnsmasq && kill_pid "dnsmasq of $n" "$pid" dnsmasq
        br="$(sed -n "s/.*<bridge name=['\"]\([^'\"]*\)['\"].*/\1/p" "$f" | head -n1)"
        if [ "$run" != - ] && [[ "$br" =~ $PORTAL_BRIDGE ]]; then
            $run ip link show "$br" >/dev/null 2>&1 && $run ip link del "$br" && log "deleted bridge $br of $n"
            drop_iptables_rules "$run" "$br"
        fi
        rm -f "$f" "$etc/qemu/networks/autostart/$n.xml" "$rundir/network/$n.pid"
        log "removed what was left of libvirt network $n"
    done
}

# Host A: libvirt's files are this machine's, its bridges in the root namespace.
if libvirt_up "$URI_A"; then remove_networks "$URI_A"; else clean_offline /run/libvirt /etc/libvirt ""; fi
# Host B: its files are in the lab's state dir, its bridges in its network namespace (gone with it).
if [ -d "$HB" ]; then
    inside=-; [ -e "/run/netns/$NETNS_B" ] && inside="ip netns exec $NETNS_B"
    if [ -e "/run/netns/$NETNS_B" ] && libvirt_up "$URI_B"; then remove_networks "$URI_B"
    else clean_offline "$HB/run-libvirt" "$HB/etc-libvirt" "$inside"; fi
fi
