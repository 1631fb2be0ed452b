#!/bin/bash
# Install the Debian packages the Nubes lab needs (root; Debian/Ubuntu).
# Idempotent and quiet: does nothing when every package is already installed,
# runs `apt-get update` only when something is missing.
set -euo pipefail

PACKAGES="libvirt-daemon-system libvirt-clients libvirt-dev pkg-config qemu-system-x86 qemu-utils
openvswitch-switch ovn-central ovn-host dnsmasq iproute2 ethtool busybox-static cpio kmod
xz-utils zstd util-linux python3
tgt qemu-block-extra libvirt-daemon-driver-storage-iscsi-direct glusterfs-server glusterfs-client
nfs-ganesha nfs-ganesha-vfs rpcbind socat postgresql-client redis-tools tcpdump"

[ "$(id -u)" = 0 ] || { echo "lab/install.sh: must run as root" >&2; exit 1; }

missing=""
for p in $PACKAGES; do
    status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
    [ "$status" = "install ok installed" ] || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "[install] all lab packages present"
    exit 0
fi
echo "[install] installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The packages' postinst scripts try to start services; without systemd they
# cannot, and the lab starts its own daemons anyway.
apt-get install -y -qq $missing >/dev/null
echo "[install] done"
