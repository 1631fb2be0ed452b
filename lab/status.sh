#!/bin/bash
# Print what of the Nubes lab is up. Exit 0 only if the whole lab answers:
# every started process alive, both libvirtds, both pools, both OVN chassis in
# the SB, the namespaces and the lab's links.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
bad=0
ok()   { printf '  %-34s ok   %s\n' "$1" "${2:-}"; }
fail() { printf '  %-34s FAIL %s\n' "$1" "${2:-}"; bad=1; }

echo "Nubes lab status ($STATE)"
[ -s "$LAB_JSON" ] && ok "lab.json" "$LAB_JSON" || fail "lab.json" "absent (lab not up?)"

if [ -s "$STARTED" ]; then
    while read -r name pid exe pidfile; do
        [ -n "$name" ] || continue
        # Only the latest record of each name counts.
        [ "$(awk -v n="$name" '$1==n{p=$2} END{print p}' "$STARTED")" = "$pid" ] || continue
        pid_alive "$pid" "$exe" && ok "process $name" "pid $pid" || fail "process $name" "pid $pid gone"
    done < "$STARTED"
fi
if [ -s "$STATE/reused" ]; then
    while read -r name; do ok "process $name" "(already running before the lab; not ours)"; done < "$STATE/reused"
fi

for ns in "$NETNS_B" "$NETNS_P"; do
    [ -e "/run/netns/$ns" ] && ok "netns $ns" || fail "netns $ns" "missing"
done
hostb_ready && ok "host B mount/UTS namespaces" "$(hostb hostname 2>/dev/null)" || fail "host B mount/UTS namespaces" "missing"
for l in $VETH_MGMT_A $VETH_TUN_A $VETH_PROV_A; do
    ip link show "$l" >/dev/null 2>&1 && ok "link $l" || fail "link $l" "missing"
done
ip netns exec "$NETNS_B" busybox ping -c1 -W2 "$MGMT_A" >/dev/null 2>&1 && ok "ping B -> A mgmt" || fail "ping B -> A mgmt"
ip netns exec "$NETNS_B" busybox ping -c1 -W2 "$TUN_A" >/dev/null 2>&1 && ok "ping B -> A tunnel underlay" || fail "ping B -> A tunnel underlay"

for uri in "$URI_A" "$URI_B"; do
    if v="$(timeout 30 virsh -q -c "$uri" version 2>/dev/null | awk '/hypervisor/{print $NF; exit}')" && [ -n "$v" ]; then
        ok "libvirt $uri" "QEMU $v, $(timeout 20 virsh -q -c "$uri" list --all --name 2>/dev/null | grep -c . ) domain(s)"
    else
        fail "libvirt $uri" "no answer"
    fi
done
for p in "$URI_A $POOL_SHARED" "$URI_B $POOL_SHARED" "$URI_A $POOL_LOCAL"; do
    set -- $p
    timeout 20 virsh -q -c "$1" pool-info "$2" 2>/dev/null | has 'State:.*running' \
        && ok "pool $2 on $1" || fail "pool $2 on $1" "not active"
done

STORAGE_FUNCS_ONLY=1 source "$LAB/storage.sh"; status

chassis="$(timeout 10 ovn-sbctl --db="$OVN_SB" --timeout=5 --bare --columns=name list Chassis 2>/dev/null | sort | tr '\n' ' ')"
for c in "$CHASSIS_A" "$CHASSIS_B"; do
    case " $chassis " in *" $c "*) ok "OVN chassis $c" "SB $OVN_SB";; *) fail "OVN chassis $c" "not in SB";; esac
done
timeout 10 ovn-nbctl --db="$OVN_NB" --timeout=5 show >/dev/null 2>&1 && ok "OVN NB" "$OVN_NB" || fail "OVN NB" "$OVN_NB no answer"
[ -s "$STATE/cache/kvm.json" ] && ok "KVM check" "$(tr -d '\n' < "$STATE/cache/kvm.json")"

if [ $bad = 0 ]; then echo "lab: UP"; else echo "lab: NOT (fully) UP"; fi
exit $bad
