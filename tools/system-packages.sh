#!/usr/bin/env bash
# Makes sure the Debian packages a target needs are present. As root it installs them;
# otherwise it names the missing ones and the command to get them, and fails.
# Usage: tools/system-packages.sh build|browser
set -euo pipefail
case "${1:-build}" in
  build)   wanted="libvirt-dev pkg-config gcc python3-dev openipmi ipmitool" ;;
  browser) wanted="chromium npm" ;;  # npm installs noVNC (make static-deps)
  *) echo "usage: $0 build|browser" >&2; exit 2 ;;
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
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  exit 0
fi
echo "Missing system packages:$missing" >&2
echo "Install them with:  sudo apt-get install -y$missing" >&2
exit 1
