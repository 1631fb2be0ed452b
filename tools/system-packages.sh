#!/usr/bin/env bash
# Makes sure the Debian packages a target needs are present. As root it installs them;
# otherwise it names the missing ones and the command to get them, and fails.
# Usage: tools/system-packages.sh build|run|browser|test
set -euo pipefail
case "${1:-build}" in
  build)   wanted="libvirt-dev pkg-config gcc python3-dev openipmi ipmitool" ;;
  # The embedded default's own OVN Northbound (ovsdb-server with ovn-central's NB schema, a child
  # of runportal): without it `make run` falls back to libvirt networks (no routers).
  run)     wanted="ovn-central" ;;
  browser) wanted="chromium npm" ;;  # npm installs noVNC (make static-deps)
  # What the test suite runs for real besides the build set: ovsdb-server with OVN's NB/SB
  # schemas (a local Northbound per session), Open vSwitch's schema and tools (chassis checks),
  # qemu-img / qemu-io (offline disk work), libvirt's daemons and QEMU (the gateway's tests
  # against a real libvirtd, once one runs: `make lab` starts it).
  test)    wanted="openvswitch-switch ovn-central qemu-utils libvirt-daemon-system qemu-system-x86" ;;
  *) echo "usage: $0 build|run|browser|test" >&2; exit 2 ;;
esac
missing=""
for pkg in $wanted; do
  # npm installed outside Debian (e.g. with Node.js from upstream) counts: Debian's would replace it.
  [ "$pkg" = npm ] && command -v npm >/dev/null && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing system packages:$missing"
  stamp=/var/lib/apt/periodic/nubes-update-stamp
  if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +360 2>/dev/null)" ]; then
    apt-get update -qq && mkdir -p "$(dirname "$stamp")" && touch "$stamp"
  fi
  # Their postinst scripts would start daemons (OVN central, OVS, libvirtd); tests and the lab
  # start their own. A policy-rc.d that refuses every start, only while we install, unless
  # the machine has one of its own.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && own_policy=1
  fi
  status=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null || status=$?
  [ $own_policy = 1 ] && rm -f "$policy"
  exit $status
fi
echo "Missing system packages:$missing" >&2
echo "Install them with:  sudo apt-get install -y$missing" >&2
exit 1
