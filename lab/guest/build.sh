#!/bin/bash
# Build the Nubes lab guest from Debian packages into lab/build/guest/:
#   vmlinuz      the Debian kernel (the package linux-image-amd64 depends on)
#   initrd.img   a busybox-static initramfs (gzip cpio) whose /init loads the
#                virtio modules, runs DHCP on every NIC, prints
#                "nubes-heartbeat N" on ttyS0 every second, answers ping and
#                serves its hostname on TCP 8080 (nc) and 80 (busybox httpd)
#   guest.env    KERNEL=, INITRD=, KERNEL_VERSION=, CMDLINE= (shell-sourceable)
# Nothing binary is committed; this runs at lab time. Idempotent: skips the
# build when the outputs are newer than this script and the guest files.
# Usage: lab/guest/build.sh [--force]
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
LAB="$(dirname "$HERE")"
BUILD="$LAB/build"
LINK="$BUILD/guest"                # -> the cached build of this recipe
# Built from packages only, so cached outside the work tree (a fresh clone, as in CI, reuses
# it), keyed by the recipe: this script, the guest's init and its DHCP script.
CACHE_ROOT="${NUBES_CACHE_DIR:-/var/cache/nubes}"
RECIPE="$(cat "$HERE/build.sh" "$HERE/init" "$HERE/udhcpc.script" | sha256sum | cut -c1-16)"
OUT="$CACHE_ROOT/guest/$RECIPE"
CACHE="$CACHE_ROOT/debs"
WORK="$CACHE_ROOT/guest-work.$$"
# no_timer_check: on a loaded machine TCG can miss the boot-time timer IRQ check and the kernel
# panics ("IO-APIC + timer doesn't work"); the check proves nothing in a VM.
CMDLINE="console=ttyS0 clocksource=acpi_pm no_timer_check"

# Modules the guest loads (their dependencies are added from modules.dep).
MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
virtio_balloon virtio_blk failover net_failover virtio_net virtio_scsi sd_mod
virtio_console virtio_rng"

log() { echo "[guest-build] $*"; }
link_out() {
    mkdir -p "$BUILD"
    [ -d "$LINK" ] && [ ! -L "$LINK" ] && rm -rf "$LINK"  # a build from before the cache
    ln -sfn "$OUT" "$LINK"
}

if [ "${1:-}" != "--force" ] && [ -s "$OUT/initrd.img" ] && [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/guest.env" ]; then
    link_out
    log "up to date: $OUT (recipe $RECIPE)"
    exit 0
fi

for tool in apt-get apt-cache dpkg-deb depmod modprobe cpio gzip; do
    command -v "$tool" >/dev/null || { echo "missing $tool (run lab/install.sh)" >&2; exit 1; }
done
BUSYBOX=/bin/busybox
file_is_static() { ! ldd "$1" >/dev/null 2>&1; }
[ -x "$BUSYBOX" ] && file_is_static "$BUSYBOX" || { echo "need busybox-static (run lab/install.sh)" >&2; exit 1; }

# 1. The kernel package that linux-image-amd64 depends on.
PKG="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')"
[ -n "$PKG" ] || { echo "cannot resolve linux-image-amd64 (apt-get update?)" >&2; exit 1; }
mkdir -p "$CACHE"
DEB="$(ls "$CACHE"/"${PKG}"_*.deb 2>/dev/null | head -n1 || true)"
if [ -z "$DEB" ]; then
    log "downloading $PKG"
    # _apt cannot write into root-owned dirs; download in a temp dir it can use.
    TMPD="$(mktemp -d)"; chmod 755 "$TMPD"
    (cd "$TMPD" && apt-get download -q "$PKG" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
    mv "$TMPD"/"${PKG}"_*.deb "$CACHE"/
    rmdir "$TMPD"
    DEB="$(ls "$CACHE"/"${PKG}"_*.deb | head -n1)"
fi
log "kernel package: $(basename "$DEB")"

# 2. Extract kernel and modules, compute the load order with depmod/modprobe.
rm -rf "$WORK"; mkdir -p "$WORK/pkg" "$WORK/root"
dpkg-deb -x "$DEB" "$WORK/pkg"
KVER="$(ls "$WORK/pkg/lib/modules" | head -n1)"
depmod -b "$WORK/pkg" "$KVER"
R="$WORK/root"
mkdir -p "$R"/{bin,sbin,etc,lib/modules,proc,sys,dev,tmp,run,www}
: > "$R/etc/modules.order"
for mod in $MODULES; do
    if ! deps="$(modprobe -d "$WORK/pkg" -S "$KVER" --show-depends "$mod" 2>/dev/null)"; then
        log "note: $mod is neither a module nor built in; skipped"; continue
    fi
    # Lines: "insmod /path/x.ko[.xz|.zst] [params]" or "builtin x".
    echo "$deps" | awk '$1=="insmod"{print $2}' | while read -r path; do
        name="$(basename "$path")"
        case "$name" in
            *.ko.xz)  base="${name%.xz}";  [ -e "$R/lib/modules/$base" ] || xz -dc "$path" > "$R/lib/modules/$base" ;;
            *.ko.zst) base="${name%.zst}"; [ -e "$R/lib/modules/$base" ] || zstd -qdc "$path" > "$R/lib/modules/$base" ;;
            *.ko.gz)  base="${name%.gz}";  [ -e "$R/lib/modules/$base" ] || gzip -dc "$path" > "$R/lib/modules/$base" ;;
            *)        base="$name";        [ -e "$R/lib/modules/$base" ] || cp "$path" "$R/lib/modules/$base" ;;
        esac
        grep -qx "$base" "$R/etc/modules.order" || echo "$base" >> "$R/etc/modules.order"
    done
done

# 3. The initramfs.
cp "$BUSYBOX" "$R/bin/busybox"
ln -sf busybox "$R/bin/sh"
install -m 0755 "$HERE/init" "$R/init"
install -m 0755 "$HERE/udhcpc.script" "$R/etc/udhcpc.script"
echo "root:x:0:0:root:/:/bin/sh" > "$R/etc/passwd"

mkdir -p "$OUT"
(cd "$R" && find . -print0 | cpio --null -o -H newc --quiet | gzip -9) > "$OUT/initrd.img.tmp"
cp "$WORK/pkg/boot/vmlinuz-$KVER" "$OUT/vmlinuz.tmp"
mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
mv "$OUT/initrd.img.tmp" "$OUT/initrd.img"
cat > "$OUT/guest.env" <<ENV
KERNEL=$OUT/vmlinuz
INITRD=$OUT/initrd.img
KERNEL_VERSION=$KVER
KERNEL_PACKAGE=$(basename "$DEB")
CMDLINE="$CMDLINE"
MODULES="$(tr '\n' ' ' < "$R/etc/modules.order" | sed 's/ $//')"
ENV
rm -rf "$WORK"
link_out
log "built $OUT/vmlinuz ($(du -h "$OUT/vmlinuz" | cut -f1)) and initrd.img ($(du -h "$OUT/initrd.img" | cut -f1)), kernel $KVER"
