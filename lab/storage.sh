#!/bin/bash
# The lab's storage node: a SAN and a NAS in userspace, in network namespace nubes-storage on
# a storage network that both hosts reach (the kernel here has no iSCSI initiator and no NFS).
#
#   storage.sh up        start tgtd (iSCSI LUNs) and glusterd (one volume), define the pools
#   storage.sh down      undefine the pools, stop both daemons, remove the namespace and links
#   storage.sh status    one line per part (used by status.sh)
#   storage.sh leftovers one line per remain (used by leftovers.sh)
#
#   netns nubes-storage: bridge san-br 10.99.2.10/24; host A nubes-a-san 10.99.2.1,
#   host B nubes-b-san 10.99.2.2 (veths into san-br)
#   tgtd   portal 10.99.2.10:3260, target $SAN_IQN, LUN 1 (1 GiB) and LUN 2 (512 MiB), sparse
#          files under $SAN_DIR; libvirt pool nubes-san (iscsi-direct, QEMU's libiscsi) on both hosts
#   glusterd 10.99.2.10:24007, volume nubes-gv (one brick); libvirt pool nubes-gluster (netfs,
#          glusterfs format, FUSE) mounted at the same path on both hosts
# Writes $STATE/storage.json, which lab_json.py folds into lab.json (pools and "storage").
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NETNS_S=nubes-storage
SAN_BR=san-br
VETH_SAN_A=nubes-a-san; VETH_SAN_SA=nubes-s-a
VETH_SAN_B=nubes-b-san; VETH_SAN_SB=nubes-s-b
SAN_IP=10.99.2.10; SAN_A=10.99.2.1; SAN_B=10.99.2.2
SAN_IQN=iqn.2026-12.lab.nubes:san1
SAN_DIR=$DATA/san
GLUSTER_VOL=nubes-gv
GLUSTER_BRICK=$DATA/gluster-brick
GLUSTER_WORK=$DATA/glusterd
GLUSTER_MNT=$DATA/gluster
POOL_SAN=nubes-san
POOL_GLUSTER=nubes-gluster
STORAGE_JSON="$STATE/storage.json"
TGT_RUN="$STATE/tgtd"
GL_RUN="$STATE/glusterd"
# glusterd's CLI socket: the write commands only work through it, not over TCP.
GL_SOCK=/var/run/glusterd.socket
GL=(gluster --mode=script --glusterd-sock="$GL_SOCK")
TGTADM=(tgtadm --lld iscsi)

in_s() { ip netns exec "$NETNS_S" "$@"; }

pool_xml() {  # name host-initiator-name
    case "$1" in
        "$POOL_SAN") cat <<XML
<pool type='iscsi-direct'>
  <name>$POOL_SAN</name>
  <source>
    <host name='$SAN_IP' port='3260'/>
    <device path='$SAN_IQN'/>
    <initiator><iqn name='iqn.2026-12.lab.nubes:$2'/></initiator>
  </source>
</pool>
XML
        ;;
        "$POOL_GLUSTER") cat <<XML
<pool type='netfs'>
  <name>$POOL_GLUSTER</name>
  <source>
    <host name='$SAN_IP'/>
    <dir path='/$GLUSTER_VOL'/>
    <format type='glusterfs'/>
  </source>
  <target><path>$GLUSTER_MNT</path></target>
</pool>
XML
        ;;
    esac
}

define_pool() {  # uri name initiator
    local uri="$1" name="$2" xml
    if ! virsh -q -c "$uri" pool-info "$name" >/dev/null 2>&1; then
        xml="$(mktemp)"; pool_xml "$name" "$3" > "$xml"
        virsh -q -c "$uri" pool-define "$xml" >/dev/null || { rm -f "$xml"; die "cannot define $name on $uri"; }
        rm -f "$xml"
    fi
    # The brick or the target may still be settling (a busy machine): starting mounts the volume
    # or logs in to the target, so try for up to 30 s, each error kept for the log.
    local err="" try
    for try in $(seq 30); do
        virsh -q -c "$uri" pool-info "$name" | has 'State:.*running' && break
        err="$(virsh -q -c "$uri" pool-start "$name" 2>&1 >/dev/null)" && break
        log "starting $name on $uri (try $try): $(echo "$err" | tr '\n' ' ' | cut -c1-200)"
        sleep 1
    done
    virsh -q -c "$uri" pool-info "$name" | has 'State:.*running' || die "cannot start $name on $uri: $err"
    virsh -q -c "$uri" pool-autostart "$name" >/dev/null 2>&1 || true
}

net_up() {
    ip netns list | has -w "^$NETNS_S" || ip netns add "$NETNS_S"
    ip -n "$NETNS_S" link set lo up
    ip -n "$NETNS_S" link show "$SAN_BR" >/dev/null 2>&1 || ip -n "$NETNS_S" link add "$SAN_BR" type bridge
    ip -n "$NETNS_S" link set "$SAN_BR" up
    ip -n "$NETNS_S" addr show dev "$SAN_BR" | has "inet $SAN_IP/" || ip -n "$NETNS_S" addr add "$SAN_IP/24" dev "$SAN_BR"
    if ! ip link show "$VETH_SAN_A" >/dev/null 2>&1; then
        ip link add "$VETH_SAN_A" type veth peer name "$VETH_SAN_SA"
        ip link set "$VETH_SAN_SA" netns "$NETNS_S"
    fi
    if ! ip -n "$NETNS_B" link show "$VETH_SAN_B" >/dev/null 2>&1; then
        ip link add "$VETH_SAN_B" type veth peer name "$VETH_SAN_SB"
        ip link set "$VETH_SAN_SB" netns "$NETNS_S"
        ip link set "$VETH_SAN_B" netns "$NETNS_B"
    fi
    ip -n "$NETNS_S" link set "$VETH_SAN_SA" master "$SAN_BR" up
    ip -n "$NETNS_S" link set "$VETH_SAN_SB" master "$SAN_BR" up
    ip link set "$VETH_SAN_A" up
    ip -n "$NETNS_B" link set "$VETH_SAN_B" up
    ip addr show dev "$VETH_SAN_A" | has "inet $SAN_A/" || ip addr add "$SAN_A/24" dev "$VETH_SAN_A"
    ip -n "$NETNS_B" addr show dev "$VETH_SAN_B" | has "inet $SAN_B/" || ip -n "$NETNS_B" addr add "$SAN_B/24" dev "$VETH_SAN_B"
}

tgt_up() {
    mkdir -p "$SAN_DIR" "$TGT_RUN"
    [ -e "$SAN_DIR/lun1.img" ] || truncate -s 1G "$SAN_DIR/lun1.img"
    [ -e "$SAN_DIR/lun2.img" ] || truncate -s 512M "$SAN_DIR/lun2.img"
    if ! started_alive tgtd; then
        # tgtd -f stays in the foreground and writes no pidfile; `ip netns exec` forks, so $! is not
        # tgtd: take the tgtd process of our own (otherwise empty) storage namespace.
        in_s tgtd -f --iscsi "portal=$SAN_IP:3260" > "$LOGS/tgtd.log" 2>&1 < /dev/null &
        disown
        local pid
        for _ in $(seq 50); do
            for pid in $(ip netns pids "$NETNS_S" 2>/dev/null); do
                pid_alive "$pid" tgtd && { echo "$pid" > "$TGT_RUN/tgtd.pid"; break 2; }
            done
            sleep 0.1
        done
        record_started tgtd tgtd "$TGT_RUN/tgtd.pid"
        for _ in $(seq 50); do "${TGTADM[@]}" --op show --mode sys >/dev/null 2>&1 && break; sleep 0.1; done
    fi
    if ! "${TGTADM[@]}" --op show --mode target | has "$SAN_IQN"; then
        "${TGTADM[@]}" --op new --mode target --tid 1 -T "$SAN_IQN"
        "${TGTADM[@]}" --op new --mode logicalunit --tid 1 --lun 1 -b "$SAN_DIR/lun1.img"
        "${TGTADM[@]}" --op new --mode logicalunit --tid 1 --lun 2 -b "$SAN_DIR/lun2.img"
        "${TGTADM[@]}" --op bind --mode target --tid 1 -I ALL
    fi
}

gluster_up() {
    mkdir -p "$GLUSTER_BRICK" "$GLUSTER_WORK" "$GL_RUN" "$GLUSTER_MNT"
    if ! started_alive glusterd; then
        cat > "$GL_RUN/glusterd.vol" <<VOL
volume management
    type mgmt/glusterd
    option working-directory $GLUSTER_WORK
    option transport-type socket
    option transport.socket.bind-address $SAN_IP
    option transport.socket.listen-port 24007
    option ping-timeout 0
    option event-threads 1
    option max-port 60999
end-volume
VOL
        in_s glusterd -f "$GL_RUN/glusterd.vol" -p "$GL_RUN/glusterd.pid" -l "$LOGS/glusterd.log" \
            > "$LOGS/glusterd.out" 2>&1
        # glusterd is a link to glusterfsd: /proc/PID/exe names glusterfsd.
        record_started glusterd glusterfsd "$GL_RUN/glusterd.pid"
        for _ in $(seq 100); do in_s "${GL[@]}" volume list >/dev/null 2>&1 && break; sleep 0.1; done
    fi
    if ! in_s "${GL[@]}" volume info "$GLUSTER_VOL" >/dev/null 2>&1; then
        in_s "${GL[@]}" volume create "$GLUSTER_VOL" "$SAN_IP:$GLUSTER_BRICK" force >/dev/null \
            || die "gluster volume create failed; see $LOGS/glusterd.log"
    fi
    in_s "${GL[@]}" volume info "$GLUSTER_VOL" | has 'Status: Started' \
        || in_s "${GL[@]}" volume start "$GLUSTER_VOL" >/dev/null || die "gluster volume start failed"
    # The brick process (glusterfsd) is glusterd's child: record it so down.sh stops it by pid.
    local bp="/var/run/gluster/vols/$GLUSTER_VOL/$SAN_IP-$(echo "$GLUSTER_BRICK" | sed 's#^/##; s#/#-#g').pid"
    for _ in $(seq 50); do [ -s "$bp" ] && break; sleep 0.1; done
    started_alive gluster-brick || record_started gluster-brick glusterfsd "$bp"
}

write_json() {
    cat > "$STORAGE_JSON.tmp" <<JSON
{
  "netns": "$NETNS_S", "address": "$SAN_IP", "host_addresses": {"$CHASSIS_A": "$SAN_A", "$CHASSIS_B": "$SAN_B"},
  "iscsi": {"portal": "$SAN_IP:3260", "iqn": "$SAN_IQN",
            "luns": [{"lun": 1, "file": "$SAN_DIR/lun1.img", "size": $(stat -c %s "$SAN_DIR/lun1.img")},
                     {"lun": 2, "file": "$SAN_DIR/lun2.img", "size": $(stat -c %s "$SAN_DIR/lun2.img")}]},
  "gluster": {"host": "$SAN_IP", "volume": "$GLUSTER_VOL", "brick": "$GLUSTER_BRICK"},
  "pools": [
    {"name": "$POOL_GLUSTER", "type": "netfs", "format": "glusterfs", "source_host": "$SAN_IP",
     "source_dir": "/$GLUSTER_VOL", "path": "$GLUSTER_MNT", "hosts": ["$CHASSIS_A", "$CHASSIS_B"], "shared": true},
    {"name": "$POOL_SAN", "type": "iscsi-direct", "source_host": "$SAN_IP", "source_device": "$SAN_IQN",
     "path": null, "hosts": ["$CHASSIS_A", "$CHASSIS_B"], "shared": true}
  ]
}
JSON
    mv "$STORAGE_JSON.tmp" "$STORAGE_JSON"
}

up() {
    for bin in tgtd tgtadm glusterd gluster; do
        command -v "$bin" >/dev/null || die "missing $bin (lab/install.sh installs tgt and glusterfs-server)"
    done
    net_up
    tgt_up
    gluster_up
    define_pool "$URI_A" "$POOL_GLUSTER" hosta
    define_pool "$URI_B" "$POOL_GLUSTER" hostb
    define_pool "$URI_A" "$POOL_SAN" hosta
    define_pool "$URI_B" "$POOL_SAN" hostb
    write_json
}

down() {
    local uri p
    for uri in "$URI_A" "$URI_B"; do
        timeout 20 virsh -q -c "$uri" version >/dev/null 2>&1 || continue
        for p in "$POOL_SAN" "$POOL_GLUSTER"; do
            timeout 20 virsh -q -c "$uri" pool-info "$p" >/dev/null 2>&1 || continue
            timeout 30 virsh -q -c "$uri" pool-destroy "$p" >/dev/null 2>&1 || true
            timeout 20 virsh -q -c "$uri" pool-undefine "$p" >/dev/null 2>&1 || true
            log "removed pool $p from $uri"
        done
    done
    rm -f /etc/libvirt/storage/"$POOL_SAN".xml /etc/libvirt/storage/"$POOL_GLUSTER".xml \
        /etc/libvirt/storage/autostart/"$POOL_SAN".xml /etc/libvirt/storage/autostart/"$POOL_GLUSTER".xml
    # A FUSE mount left behind (libvirtd gone before pool-destroy) on host A.
    mountpoint -q "$GLUSTER_MNT" 2>/dev/null && umount -l "$GLUSTER_MNT" && log "unmounted $GLUSTER_MNT"
    # tgtd ignores SIGTERM: drop its targets (it refuses to exit while it has any), then ask it to
    # exit; down.sh's pid loop stops the rest.
    if started_alive tgtd; then
        timeout 10 "${TGTADM[@]}" --op delete --mode target --tid 1 --force >/dev/null 2>&1 || true
        timeout 10 "${TGTADM[@]}" --op delete --mode system >/dev/null 2>&1 || true
    fi
    if [ -e "/run/netns/$NETNS_S" ]; then
        for l in "$VETH_SAN_A"; do ip link show "$l" >/dev/null 2>&1 && ip link del "$l"; done
    fi
}

# After down.sh stopped the recorded pids: the namespace and the daemons' own files.
cleanup() {
    if [ -e "/run/netns/$NETNS_S" ]; then
        local pids; pids="$(ip netns pids "$NETNS_S" 2>/dev/null | tr '\n' ' ')"
        [ -z "$pids" ] || warn "processes still in netns $NETNS_S: $pids (not killed: not recorded by the lab)"
        ip netns del "$NETNS_S" && log "deleted netns $NETNS_S"
    fi
    ip link show "$VETH_SAN_A" >/dev/null 2>&1 && ip link del "$VETH_SAN_A"
    rm -rf "/var/run/gluster/vols/$GLUSTER_VOL" /var/log/glusterfs/bricks/*nubes-lab-gluster-brick*.log
    rm -f "$STORAGE_JSON"
}

status() {
    local s_ok=1
    [ -e "/run/netns/$NETNS_S" ] && ok "netns $NETNS_S" || { fail "netns $NETNS_S" "missing"; s_ok=0; }
    for p in tgtd glusterd gluster-brick; do
        started_alive "$p" && ok "storage node $p" || fail "storage node $p" "not running"
    done
    if started_alive tgtd; then  # tests/integration/test_array_outage_lab.py sets it offline and back
        timeout 10 "${TGTADM[@]}" --op show --mode target | has 'State: ready' \
            && ok "iSCSI target" "$SAN_IQN ready" || fail "iSCSI target" "$SAN_IQN not ready (offline?)"
    fi
    for p in "$URI_A $POOL_GLUSTER" "$URI_B $POOL_GLUSTER" "$URI_A $POOL_SAN" "$URI_B $POOL_SAN"; do
        set -- $p
        timeout 20 virsh -q -c "$1" pool-info "$2" 2>/dev/null | has 'State:.*running' \
            && ok "pool $2 on $1" || fail "pool $2 on $1" "not active"
    done
}

leftovers() {
    [ -e "/run/netns/$NETNS_S" ] && left "netns $NETNS_S"
    ip link show "$VETH_SAN_A" >/dev/null 2>&1 && left "link $VETH_SAN_A"
    mountpoint -q "$GLUSTER_MNT" 2>/dev/null && left "mount $GLUSTER_MNT"
    for f in /etc/libvirt/storage/"$POOL_SAN".xml /etc/libvirt/storage/"$POOL_GLUSTER".xml; do
        [ -e "$f" ] && left "file $f"
    done
    [ -e "/var/run/gluster/vols/$GLUSTER_VOL" ] && left "directory /var/run/gluster/vols/$GLUSTER_VOL"
    return 0
}

# status.sh and leftovers.sh source this file for status() and leftovers() (their ok/fail/left).
[ -n "${STORAGE_FUNCS_ONLY:-}" ] && return 0
case "${1:-}" in
    up) up ;;
    down) down ;;
    cleanup) cleanup ;;
    *) echo "usage: $0 up|down|cleanup" >&2; exit 2 ;;
esac
