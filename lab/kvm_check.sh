#!/bin/bash
# Does KVM really run guests here? Writes lab/state/cache/kvm.json:
#   {"usable": bool, "virt_type": "kvm"|"qemu", "reason": "...", "checked_at": "..."}
# The check boots the lab guest with <domain type='kvm'> on host A for up to
# KVM_CHECK_TIMEOUT seconds (default 15) and looks for a heartbeat on its serial
# log; on some hosts (paravirtual KVM) the domain shows "running" and prints
# nothing. Without a heartbeat the lab falls back to TCG (type 'qemu').
# Cached: the check runs once; `lab/kvm_check.sh --force` runs it again.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
CACHE="$STATE/cache/kvm.json"
TIMEOUT="${KVM_CHECK_TIMEOUT:-15}"
mkdir -p "$STATE/cache"

if [ "${1:-}" != "--force" ] && [ -s "$CACHE" ]; then
    log "KVM check (cached): $(cat "$CACHE")"
    exit 0
fi

write() {  # usable virt_type reason
    python3 - "$CACHE" "$1" "$2" "$3" <<'PY'
import datetime, json, sys
path, usable, virt_type, reason = sys.argv[1:]
doc = {"usable": usable == "true", "virt_type": virt_type, "reason": reason,
       "checked_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
with open(path, "w") as f:
    json.dump(doc, f)
    f.write("\n")
PY
    log "KVM check: $(cat "$CACHE")"
}

if [ ! -c /dev/kvm ]; then
    write false qemu "no /dev/kvm"; exit 0
fi
if ! virsh -q -c "$URI_A" domcapabilities --virttype kvm >/dev/null 2>&1; then
    write false qemu "libvirt reports no kvm domain type"; exit 0
fi

NAME="${DOMAIN_PREFIX}kvmcheck"
LOGF="$SERIAL/$NAME.log"
XML="$(mktemp)"
trap 'rm -f "$XML"; virsh -q -c "$URI_A" destroy "$NAME" >/dev/null 2>&1 || true' EXIT
virsh -q -c "$URI_A" destroy "$NAME" >/dev/null 2>&1 || true
rm -f "$LOGF"
python3 "$LAB/guest/domain_xml.py" --name "$NAME" --type kvm --memory-mib 128 \
    --kernel "$IMAGES/vmlinuz" --initrd "$IMAGES/initrd.img" --serial-log "$LOGF" > "$XML"
if ! err="$(virsh -q -c "$URI_A" create "$XML" 2>&1)"; then
    write false qemu "starting a kvm domain failed: $(echo "$err" | tr '\n"' ' \x27' | cut -c1-200)"; exit 0
fi
for _ in $(seq $((TIMEOUT * 2))); do
    if grep -q 'nubes-heartbeat' "$LOGF" 2>/dev/null; then
        write true kvm "a kvm guest printed its heartbeat"; rm -f "$LOGF"; exit 0
    fi
    sleep 0.5
done
write false qemu "a kvm domain ran ${TIMEOUT}s without a byte on its serial console"
rm -f "$LOGF"
