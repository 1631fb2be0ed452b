#!/bin/bash
# mmdebstrap customize hook: $1 = the new root, $2 = lab/service-guest. Runs on the build host.
set -euo pipefail
R="$1"; HERE="$2"

# The predefined scripts the portal may run through the guest agent (guest-exec, JSON on stdin).
install -d -m 0755 "$R/usr/lib/nubes-agent"
install -m 0644 "$HERE/nubes-agent/nubes_agent.py" "$R/usr/lib/nubes-agent/"
for script in "$HERE"/nubes-agent/*; do
    case "$script" in *.py) continue ;; esac
    install -m 0755 "$script" "$R/usr/lib/nubes-agent/"
done
install -m 0755 "$HERE/nubes-init" "$R/usr/sbin/nubes-init"
install -m 0644 "$HERE/nubes-ready.service" "$R/etc/systemd/system/"
ln -sf /etc/systemd/system/nubes-ready.service "$R/etc/systemd/system/multi-user.target.wants/nubes-ready.service"

echo "nubes-db" > "$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 nubes-db\n' > "$R/etc/hosts"
echo "LABEL=nubes-root / ext4 defaults,discard 0 1" > "$R/etc/fstab"
# The NIC gets its address from DHCP (OVN native DHCP on the tenant network); allow-hotplug
# keeps a guest without a NIC or a DHCP server from waiting at boot.
cat > "$R/etc/network/interfaces" <<'NET'
auto lo
iface lo inet loopback
allow-hotplug eth0
iface eth0 inet dhcp
NET

# PostgreSQL serves the tenant network; accounts have passwords (scram), none for postgres.
PGV="$(ls "$R/usr/lib/postgresql" | head -n1)"
CONF="$R/etc/postgresql/$PGV/main"
# port: pg_createcluster picked 5433 when the build host's own PostgreSQL held 5432.
printf "listen_addresses = '*'\nport = 5432\n" > "$CONF/conf.d/nubes.conf"
echo "host all all 0.0.0.0/0 scram-sha-256" >> "$CONF/pg_hba.conf"

# A small initramfs: the virtio disk and ext4 only (MODULES=most made udev load hundreds of
# modules at boot, minutes under TCG).
printf 'MODULES=list\n' > "$R/etc/initramfs-tools/conf.d/nubes"
printf 'virtio_pci\nvirtio_blk\next4\n' >> "$R/etc/initramfs-tools/modules"
chroot "$R" update-initramfs -u -k all

# Boot time under TCG (when booted with systemd, without init=): nothing periodic that a database server does not need.
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
    fstrim.timer man-db.timer dpkg-db-backup.timer logrotate.timer systemd-timesyncd.service \
    getty@tty1.service; do
    ln -sf /dev/null "$R/etc/systemd/system/$unit"
done
mkdir -p "$R/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n' > "$R/etc/systemd/journald.conf.d/nubes.conf"
