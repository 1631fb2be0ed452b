#!/bin/bash
# TLS (VeNCrypt) for QEMU's VNC on the lab hosts; run by up.sh, idempotent, also on a running lab.
#   - a small CA and, per host, a server certificate for the addresses the console proxy dials
#     (host A: 127.0.0.1 and its management address; host B: its management address), plus the
#     proxy's client certificate: under $STATE/vnc-pki, each made only if missing;
#   - a marked block in each host's qemu.conf (host A: /etc/libvirt/qemu.conf, unless a libvirtd
#     the lab did not start runs there; down.sh removes it; host B: its private copy) with vnc_tls = 1, the host's
#     certificate directory and vnc_tls_x509_verify = 1 (QEMU asks the proxy for its certificate);
#   - a running libvirtd whose block changed is restarted (its guests keep running, with the VNC
#     they started with; guests started afterwards get VeNCrypt).
# The portal's proxy uses $STATE/vnc-pki/{ca-cert,proxy-cert,proxy-key}.pem (NUBES_VNC_TLS_*).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PKI="$(cd "$STATE" && pwd -P)/vnc-pki"
MARK_BEGIN="# --- Nubes lab VNC TLS (made by vnc-tls.sh) ---"
MARK_END="# --- end Nubes lab VNC TLS ---"
QEMU_GROUP=libvirt-qemu   # QEMU runs as libvirt-qemu and must read its host's key

mkdir -p "$PKI"
if [ ! -s "$PKI/ca-cert.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -subj "/CN=Nubes lab VNC CA" -keyout "$PKI/ca-key.pem" -out "$PKI/ca-cert.pem" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    chmod 600 "$PKI/ca-key.pem"
fi

issue() {  # dir name purpose subjectAltName
    local dir="$1" name="$2" purpose="$3" san="$4"
    [ -s "$dir/$name-cert.pem" ] && return 0
    mkdir -p "$dir"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$(basename "$dir")-$name" \
        -keyout "$dir/$name-key.pem" -out "$dir/$name.csr" 2>/dev/null
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n%s\n' \
        "$purpose" "${san:+subjectAltName=$san}" > "$dir/$name.ext"
    openssl x509 -req -in "$dir/$name.csr" -CA "$PKI/ca-cert.pem" -CAkey "$PKI/ca-key.pem" -CAcreateserial \
        -days 3650 -extfile "$dir/$name.ext" -out "$dir/$name-cert.pem" 2>/dev/null
    rm -f "$dir/$name.csr" "$dir/$name.ext"
}
for host in a b; do
    case $host in a) san="IP:127.0.0.1,IP:$MGMT_A" ;; b) san="IP:$MGMT_B" ;; esac
    issue "$PKI/host$host" server serverAuth "$san"
    cp "$PKI/ca-cert.pem" "$PKI/host$host/ca-cert.pem"
    chgrp "$QEMU_GROUP" "$PKI/host$host/server-key.pem" && chmod 640 "$PKI/host$host/server-key.pem"
done
issue "$PKI" proxy clientAuth ""
chmod 600 "$PKI/proxy-key.pem"

# set_block <qemu.conf> <cert dir>: rewrite the marked block; status 0 when the file changed.
set_block() {
    local conf="$1" dir="$2" want
    want="$(sed "/^$MARK_BEGIN\$/,/^$MARK_END\$/d" "$conf"; printf '%s\nvnc_tls = 1\nvnc_tls_x509_cert_dir = "%s"\nvnc_tls_x509_verify = 1\n%s\n' \
        "$MARK_BEGIN" "$dir" "$MARK_END")"
    [ "$want" = "$(cat "$conf")" ] && return 1
    printf '%s\n' "$want" > "$conf"
}

stop_libvirtd() {  # name: stop a libvirtd the lab started and forget it; status 1 if none runs
    local name="$1" pid
    started_alive "$name" || return 1
    pid="$(awk -v n="$name" '$1==n' "$STARTED" | tail -n1 | cut -d' ' -f2)"
    log "restarting $name (pid $pid) for VNC TLS"
    kill_pid "$name" "$pid" libvirtd
    sed -i "/^$name /d" "$STARTED"
}

if ! started_alive libvirtd-a && pid_alive "$(pid_from_file /run/libvirtd.pid || true)" libvirtd; then
    warn "host A's libvirtd was not started by the lab: its VNC stays without TLS"
elif set_block /etc/libvirt/qemu.conf "$PKI/hosta" && stop_libvirtd libvirtd-a; then
    /usr/sbin/libvirtd -d --listen -f "$STATE/hosta/libvirtd.conf" -p /run/libvirtd.pid >"$LOGS/libvirtd-a.out" 2>&1
    record_started libvirtd-a libvirtd /run/libvirtd.pid
fi
if hostb_ready && [ -f "$HB/etc-libvirt/qemu.conf" ] && set_block "$HB/etc-libvirt/qemu.conf" "$PKI/hostb" \
    && stop_libvirtd libvirtd-b; then
    start_libvirtd_b
fi
log "VNC TLS: CA $PKI/ca-cert.pem, proxy certificate $PKI/proxy-cert.pem"
