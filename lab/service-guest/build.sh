#!/bin/bash
# Build the Nubes service guest (managed databases) from Debian packages, at lab time:
#   mmdebstrap of Debian bookworm (linux-image-amd64, systemd, qemu-guest-agent, postgresql,
#   python3 for the scripts), the predefined scripts under /usr/lib/nubes-agent/, then
#   `mke2fs -d` into an ext4 filesystem image and `qemu-img convert` to qcow2. Outputs, in
#   /var/cache/nubes/service-guest/<recipe hash>/ (NUBES_CACHE_DIR overrides the root):
#     root.qcow2   the root filesystem (no partition table: root=/dev/vda)
#     vmlinuz, initrd.img   the image's own kernel and initramfs, for direct kernel boot
#     image.env    ROOT=, KERNEL=, INITRD=, CMDLINE=, KERNEL_VERSION=, POSTGRES_VERSION=, BUILD_SECONDS=
# lab/build/service-guest links to it. The hash covers this directory (script, scripts, units),
# so changing the recipe rebuilds; otherwise it is reused (a fresh clone, as in CI, too).
# Nothing is downloaded but Debian packages (from the machine's apt sources).
# Usage: lab/service-guest/build.sh [--force]
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
LAB="$(dirname "$HERE")"
LINK="$LAB/build/service-guest"
CACHE_ROOT="${NUBES_CACHE_DIR:-/var/cache/nubes}"
RECIPE="$(cd "$HERE" && find . -type f ! -name '*.pyc' | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)"
OUT="$CACHE_ROOT/service-guest/$RECIPE"
WORK="$CACHE_ROOT/service-guest-work.$$"
SIZE="${NUBES_SERVICE_GUEST_SIZE:-3G}"   # the root filesystem; qcow2 keeps it sparse
# no_timer_check: TCG on a loaded machine can miss the boot-time timer check (see lab/guest).
# init=/usr/sbin/nubes-init: agent + DHCP + PostgreSQL only (nubes-init says why); drop it to boot
# the same image with systemd.
CMDLINE="root=/dev/vda rw console=ttyS0 clocksource=acpi_pm no_timer_check net.ifnames=0 quiet init=/usr/sbin/nubes-init"
PACKAGES="linux-image-amd64,systemd-sysv,udev,qemu-guest-agent,postgresql,python3-minimal,libpython3.11-stdlib,\
iproute2,ifupdown,isc-dhcp-client,procps,e2fsprogs,util-linux"

log() { echo "[service-guest] $*"; }
link_out() { mkdir -p "$(dirname "$LINK")"; ln -sfn "$OUT" "$LINK"; }

if [ "${1:-}" != "--force" ] && [ -s "$OUT/image.env" ]; then
    link_out
    log "up to date: $OUT (recipe $RECIPE)"
    exit 0
fi
if ! command -v mmdebstrap >/dev/null; then
    log "installing mmdebstrap"
    apt-get install -y -q --no-install-recommends mmdebstrap >/dev/null
fi
for tool in mke2fs qemu-img; do
    command -v "$tool" >/dev/null || { echo "missing $tool (run lab/install.sh)" >&2; exit 1; }
done

START=$(date +%s)
cleanup() {
    # mmdebstrap mounts /proc, /sys and /dev into the root while it runs: never delete through a
    # mount (an interrupted build would otherwise remove the host's device nodes).
    findmnt -rn -o TARGET | grep "^$WORK/" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
# Everything is made in $WORK/out and renamed to $OUT only when complete: a failed or
# interrupted build leaves no cache directory behind (an empty one would look like a recipe built).
STAGE="$WORK/out"
mkdir -p "$STAGE" "$(dirname "$OUT")"
ROOT="$WORK/root"
log "mmdebstrap bookworm ($PACKAGES)"
# The machine's own Debian sources (bookworm, -updates, -security), so the image's packages match
# the hosts'; plain deb.debian.org when there is no such file.
MIRROR=http://deb.debian.org/debian
[ -f /etc/apt/sources.list.d/debian.sources ] && MIRROR=/etc/apt/sources.list.d/debian.sources
mmdebstrap --quiet --variant=minbase --mode=root --include="$PACKAGES" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook="$HERE/customize.sh \"\$1\" \"$HERE\"" \
    bookworm "$ROOT" "$MIRROR"

KVER="$(ls "$ROOT/lib/modules" | head -n1)"
PGV="$(ls "$ROOT/usr/lib/postgresql" | head -n1)"
cp "$ROOT/boot/vmlinuz-$KVER" "$STAGE/vmlinuz"
cp "$ROOT/boot/initrd.img-$KVER" "$STAGE/initrd.img"
log "mke2fs -d ($SIZE) and qemu-img convert"
mke2fs -q -t ext4 -L nubes-root -d "$ROOT" "$WORK/root.img" "$SIZE"
qemu-img convert -q -f raw -O qcow2 "$WORK/root.img" "$STAGE/root.qcow2"
cat > "$STAGE/image.env" <<ENV
ROOT=$OUT/root.qcow2
KERNEL=$OUT/vmlinuz
INITRD=$OUT/initrd.img
CMDLINE="$CMDLINE"
KERNEL_VERSION=$KVER
POSTGRES_VERSION=$PGV
RECIPE=$RECIPE
BUILD_SECONDS=$(( $(date +%s) - START ))
ENV
rm -rf "$OUT"  # --force, or a directory an older build.sh left without image.env
mv "$STAGE" "$OUT"
link_out
log "built $OUT in $(( $(date +%s) - START )) s: root.qcow2 $(du -h "$OUT/root.qcow2" | cut -f1), kernel $KVER, PostgreSQL $PGV"
