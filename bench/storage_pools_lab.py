"""Storage pool kinds on the lab: sequential write and read throughput of one guest's disks on a
local directory, on GlusterFS and on an iSCSI LUN, and live migration time of the same guest with
its disk on network storage (nothing copied) and on local storage (copied along).

    .venv/bin/python bench/storage_pools_lab.py [--mib 256] [--runs 3] [--fill-mib 256]

On the lab (lab/state/lab.json with its storage node, lab/storage.sh) it boots this checkout's
lab guest (lab/guest/build.sh, cached: its /init answers "NUBES-BENCH TOKEN MIB" at a disk's
start with `dd` direct-I/O timings) on host A with three raw data disks, all cache='none':
a file of host A's dir pool nubes-local, a file on the GlusterFS volume (pool nubes-gluster,
netfs over FUSE) and LUN 2 of the storage node's iSCSI target (QEMU's libiscsi, as the
iscsi-direct pool nubes-san gives it). Inside the guest: `dd` of MIB MiB in 1 MiB blocks,
oflag=direct then iflag=direct, timed from /proc/uptime (10 ms ticks of a TCG guest's clock).
Then the same guest (256 MiB) with one 1 GiB disk holding FILL MiB of random data moves live
A -> B twice: the disk on GlusterFS (shared, only memory moves) and on nubes-local (copied
by libvirt over NBD into host B's nubes-shared). Without the lab it says so and measures
nothing. Prints figures; asserts nothing. Leaves no domain, volume or data behind.
"""

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "lab" / "guest"))
import boot_test  # noqa: E402  (the lab guest's heartbeat and removal, virsh only)
import domain_xml  # noqa: E402

import hypervisor as hv  # noqa: E402

LAB_JSON = ROOT / "lab" / "state" / "lab.json"
GUEST_BUILD = ROOT / "lab" / "build" / "guest"
LOCAL, GLUSTER, SHARED = "nubes-local", "nubes-gluster", "nubes-shared"
DISK_GIB = 1
MIB = 1024 * 1024
BOOT_TIMEOUT_S = 120
BENCH_TIMEOUT_S = 600
BENCH_INITIATOR = "iqn.2026-12.lab.nubes:bench"
# NFS: the lab's storage node serves none (Nubes has no pool type for QEMU's own NFS client), so
# the bench runs nfs-ganesha and rpcbind (libnfs asks the portmapper) in a namespace of its own.
NFS_NETNS, NFS_VETH, NFS_PEER = "nubes-bench-nfs", "nubes-bnfs0", "nubes-bnfs1"
NFS_HOST_IP, NFS_IP = "10.99.3.1", "10.99.3.2"
NFS_DIR = Path("/var/lib/nubes-lab/bench-nfs")
GANESHA_CONF = """NFS_CORE_PARAM {{ Bind_addr = {ip}; Protocols = 3, 4; }}
NFSV4 {{ Graceless = true; }}
EXPORT {{
  Export_Id = 1; Path = {export}; Pseudo = /export; Protocols = 3, 4; Transports = TCP;
  Access_Type = RW; Squash = No_Root_Squash; SecType = sys;
  FSAL {{ Name = VFS; }}
}}
"""


def virsh(uri, *args, check=True):
    proc = subprocess.run(["virsh", "-q", "-c", uri, *args], capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise RuntimeError(f"virsh -c {uri} {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def guest_files():
    """This checkout's guest (kernel, initrd), built or taken from the recipe's cache."""
    subprocess.run([str(ROOT / "lab" / "guest" / "build.sh")], check=True, capture_output=True, timeout=900)
    return str((GUEST_BUILD / "vmlinuz").resolve()), str((GUEST_BUILD / "initrd.img").resolve())


class Volumes:
    """Raw volumes made in the lab's pools for the run; all deleted at the end."""

    def __init__(self):
        self.made = []

    def create(self, uri, pool, name):
        virsh(uri, "vol-create-as", pool, name, f"{DISK_GIB}G", "--format", "raw")
        self.made.append((uri, pool, name))
        return virsh(uri, "vol-path", "--pool", pool, name).strip()

    def remove(self):
        for uri, pool, name in reversed(self.made):
            virsh(uri, "vol-delete", "--pool", pool, name, check=False)


def file_disk(devices, path, dev):
    disk = ET.SubElement(devices, "disk", type="file", device="disk")
    ET.SubElement(disk, "driver", name="qemu", type="raw", cache="none")
    ET.SubElement(disk, "source", file=path)
    ET.SubElement(disk, "target", dev=dev, bus="virtio")


def lun_disk(devices, storage, lun, dev):
    host, port = storage["iscsi"]["portal"].split(":")
    disk = ET.SubElement(devices, "disk", type="network", device="disk")
    ET.SubElement(disk, "driver", name="qemu", type="raw", cache="none")
    source = ET.SubElement(disk, "source", protocol="iscsi", name=f"{storage['iscsi']['iqn']}/{lun}")
    ET.SubElement(source, "host", name=host, port=port)
    ET.SubElement(ET.SubElement(source, "initiator"), "iqn", name=BENCH_INITIATOR)
    ET.SubElement(disk, "target", dev=dev, bus="virtio")


def boot(lab, guest, name, add_disks):
    """Define and start a guest on host A with the disks `add_disks(devices)` puts in."""
    log = boot_test.serial_log(lab, name)
    Path(log).unlink(missing_ok=True)
    xml = domain_xml.build(
        name,
        *guest,
        log,
        virt_type=lab["kvm"]["virt_type"],
        memory_mib=lab["guest"]["memory_mib"],
        cmdline=lab["guest"]["cmdline"],
    )
    dom = ET.fromstring(xml)
    add_disks(dom.find("devices"))
    uri = lab["hosts"][0]["uri"]
    path = Path(f"/tmp/{name}.xml")
    path.write_text(ET.tostring(dom, encoding="unicode"))
    try:
        virsh(uri, "define", str(path))
    finally:
        path.unlink()
    virsh(uri, "start", name)
    boot_test.wait_heartbeat(log, timeout=BOOT_TIMEOUT_S)
    return log


def console(log, pattern, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, Path(log).read_text(errors="replace"))
        if found:
            return found
        time.sleep(0.5)
    raise RuntimeError(f"no {pattern!r} in {log} within {timeout} s")


def disks_seen(log, count):
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while len(re.findall(r"nubes-disk vd[a-z] size=", Path(log).read_text(errors="replace"))) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the guest did not report {count} disks within {BOOT_TIMEOUT_S} s ({log})")
        time.sleep(0.5)


def write_first_sector(path, text):
    with open(path, "r+b") as f:
        f.write(text.encode().ljust(512, b"\0"))
        f.flush()
        os.fsync(f.fileno())


def dd_in_guest(log, path, mib):
    """(write MiB/s, read MiB/s) of one disk, measured by the guest."""
    token = uuid.uuid4().hex[:12]
    write_first_sector(path, f"NUBES-BENCH {token} {mib}\n")
    found = console(log, rf"nubes-bench \S+ {token} mib=\d+ write_cs=(\d+) read_cs=(\d+)", BENCH_TIMEOUT_S)
    write_cs, read_cs = int(found[1]), int(found[2])
    return mib * 100 / max(write_cs, 1), mib * 100 / max(read_cs, 1)


def nfs_disk(devices, path, dev):
    disk = ET.SubElement(devices, "disk", type="network", device="disk")
    ET.SubElement(disk, "driver", name="qemu", type="raw", cache="none")
    source = ET.SubElement(disk, "source", protocol="nfs", name=str(path))
    ET.SubElement(source, "host", name=NFS_IP)
    # Without an identity QEMU's libnfs connects as its own uid and the export denies it.
    ET.SubElement(source, "identity", user="root", group="root")
    ET.SubElement(disk, "target", dev=dev, bus="virtio")


def netns_pid(program):
    for _ in range(100):
        for pid in subprocess.run(["ip", "netns", "pids", NFS_NETNS], capture_output=True, text=True).stdout.split():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == program[:15]:
                    return int(pid)
        time.sleep(0.1)
    raise RuntimeError(f"{program} did not start in netns {NFS_NETNS}")


@contextlib.contextmanager
def nfs_server():
    """nfs-ganesha (VFS) and rpcbind in netns NFS_NETNS, reached from host A at NFS_IP; yields a
    1 GiB raw file's path in the export, or None (saying why) when they are not installed."""
    missing = [p for p in ("ganesha.nfsd", "rpcbind") if shutil.which(p) is None]
    if missing:
        print(f"  (no NFS figure: {' and '.join(missing)} not installed; lab/install.sh installs them)")
        yield None
        return
    pids = []
    run = ["ip", "netns", "exec", NFS_NETNS]
    try:
        subprocess.run(["ip", "netns", "add", NFS_NETNS], check=True)
        subprocess.run(["ip", "link", "add", NFS_VETH, "type", "veth", "peer", "name", NFS_PEER], check=True)
        subprocess.run(["ip", "link", "set", NFS_PEER, "netns", NFS_NETNS], check=True)
        subprocess.run(["ip", "addr", "add", f"{NFS_HOST_IP}/24", "dev", NFS_VETH], check=True)
        subprocess.run(["ip", "link", "set", NFS_VETH, "up"], check=True)
        subprocess.run(["ip", "-n", NFS_NETNS, "addr", "add", f"{NFS_IP}/24", "dev", NFS_PEER], check=True)
        subprocess.run(["ip", "-n", NFS_NETNS, "link", "set", NFS_PEER, "up"], check=True)
        subprocess.run(["ip", "-n", NFS_NETNS, "link", "set", "lo", "up"], check=True)
        export = NFS_DIR / "export"
        export.mkdir(parents=True, exist_ok=True)
        (NFS_DIR / "ganesha.conf").write_text(GANESHA_CONF.format(ip=NFS_IP, export=export))
        # In a namespace of its own rpcbind listens on every address (bound to one it aborts).
        subprocess.Popen([*run, "rpcbind", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pids.append(netns_pid("rpcbind"))
        conf, log = NFS_DIR / "ganesha.conf", NFS_DIR / "ganesha.log"
        subprocess.Popen(
            [*run, "ganesha.nfsd", "-F", "-f", str(conf), "-L", str(log), "-p", str(NFS_DIR / "ganesha.pid")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        pids.append(netns_pid("ganesha.nfsd"))
        deadline = time.monotonic() + 30
        while "NFS SERVER INITIALIZED" not in (log.read_text(errors="replace") if log.exists() else ""):
            if time.monotonic() > deadline:
                raise RuntimeError(f"nfs-ganesha did not start: see {log}")
            time.sleep(0.2)
        path = export / "bench.raw"
        with open(path, "wb") as f:
            f.truncate(DISK_GIB * 1024 * MIB)
        yield path
    finally:
        for pid in reversed(pids):  # ours, by PID
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in pids:
            for _ in range(50):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)
        subprocess.run(["ip", "link", "del", NFS_VETH], capture_output=True)
        subprocess.run(["ip", "netns", "del", NFS_NETNS], capture_output=True)
        shutil.rmtree(NFS_DIR, ignore_errors=True)


def throughput(lab, guest, volumes, mib, runs):
    with nfs_server() as nfs:
        measure_throughput(lab, guest, volumes, mib, runs, nfs)


def measure_throughput(lab, guest, volumes, mib, runs, nfs):
    storage = lab["storage"]
    uri_a = lab["hosts"][0]["uri"]
    lun = storage["iscsi"]["luns"][1]  # LUN 2: no lab test uses it
    kinds = [
        ("local dir (nubes-local)", volumes.create(uri_a, LOCAL, f"bench-{uuid.uuid4().hex[:6]}.raw")),
        ("GlusterFS netfs (nubes-gluster)", volumes.create(uri_a, GLUSTER, f"bench-{uuid.uuid4().hex[:6]}.raw")),
        ("iSCSI LUN (nubes-san, libiscsi)", lun["file"]),
    ]
    if nfs is not None:
        kinds.append(("NFS (ganesha, QEMU's libnfs)", nfs))
    name = f"nubes-bench-st-{uuid.uuid4().hex[:6]}"

    def disks(devices):
        file_disk(devices, kinds[0][1], "vdb")
        file_disk(devices, kinds[1][1], "vdc")
        lun_disk(devices, storage, lun["lun"], "vdd")
        if nfs is not None:
            nfs_disk(devices, nfs, "vde")

    try:
        log = boot(lab, guest, name, disks)
        disks_seen(log, len(kinds))
        figures = {label: ([], []) for label, _ in kinds}
        for _ in range(runs):
            for label, path in kinds:
                write, read = dd_in_guest(log, path, mib)
                figures[label][0].append(write)
                figures[label][1].append(read)
        print(f"Sequential direct I/O inside one TCG guest, {mib} MiB in 1 MiB blocks, median of {runs} (MiB/s):")
        for label, (writes, reads) in figures.items():
            print(
                f"  {label:<34} write {statistics.median(writes):7.1f}   read {statistics.median(reads):7.1f}"
                f"   (runs: write {', '.join(f'{w:.1f}' for w in writes)}; read {', '.join(f'{r:.1f}' for r in reads)})"
            )
    finally:
        boot_test.remove(uri_a, name)
        Path(boot_test.serial_log(lab, name)).unlink(missing_ok=True)
        # The LUN back as it was: sparse zeros (tgtd keeps the file open; a punched hole reads 0).
        subprocess.run(
            ["fallocate", "--punch-hole", "--offset", "0", "--length", str(lun["size"]), lun["file"]],
            check=False,
            timeout=60,
        )


def fill(path, mib):
    """`mib` MiB of random data from the disk's 1 MiB mark on (the guest's bench area)."""
    with open(path, "r+b") as f:
        f.seek(MIB)
        for _ in range(mib):
            f.write(os.urandom(MIB))
        f.flush()
        os.fsync(f.fileno())


def migrate(lab, guest, volumes, on_gluster, fill_mib):
    """Boot the guest with its disk on GlusterFS or nubes-local, move it live A -> B; the result."""
    uri_a, uri_b = lab["hosts"][0]["uri"], lab["hosts"][1]["uri"]
    name = f"nubes-bench-mv-{uuid.uuid4().hex[:6]}"
    path = volumes.create(uri_a, GLUSTER if on_gluster else LOCAL, f"{name}.raw")
    fill(path, fill_mib)
    if on_gluster:
        options = hv.MigrationOptions(migration_uri=lab["hosts"][1]["migration_uri"])
    else:
        target = volumes.create(uri_b, SHARED, f"{name}.raw")
        options = hv.MigrationOptions(
            copy_storage=True, disk_targets=((path, target),), migration_uri=lab["hosts"][1]["migration_uri"]
        )
    try:
        log = boot(lab, guest, name, lambda devices: file_disk(devices, path, "vdb"))
        beat = boot_test.last_heartbeat(log)
        uuid_ = virsh(uri_a, "domuuid", name).strip()
        disk = []  # the storage copy's bytes, from the job's progress (the result counts memory)
        result = hv.migrate_domain(uri_a, uri_b, uuid_, options, lambda progress: disk.append(progress.disk_processed))
        boot_test.wait_heartbeat(log, after=beat, timeout=BOOT_TIMEOUT_S)
        return result, max(disk, default=0)
    finally:
        boot_test.remove(uri_b, name)
        boot_test.remove(uri_a, name)
        Path(boot_test.serial_log(lab, name)).unlink(missing_ok=True)


def migrations(lab, guest, volumes, fill_mib):
    print(
        f"Live migration A -> B of the same {lab['guest']['memory_mib']} MiB guest, 1 GiB disk with {fill_mib} MiB of data:"
    )
    for label, on_gluster in (("disk on GlusterFS (shared)", True), ("disk on nubes-local (copied)", False)):
        r, disk = migrate(lab, guest, volumes, on_gluster, fill_mib)
        downtime = f"{r.downtime_ms} ms" if r.downtime_ms is not None else "?"
        print(
            f"  {label:<30} total {r.total_ms / 1000:6.2f} s   downtime {downtime:>8}   "
            f"memory sent {r.data_transferred / MIB:6.1f} MiB   disk mirrored {disk / MIB:6.1f} MiB"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=256, help="MiB each dd writes then reads")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fill-mib", type=int, default=256, help="data on the migrated guest's disk")
    args = parser.parse_args(argv)
    if not LAB_JSON.exists():
        print(f"Real figures need the lab ({LAB_JSON} is missing: run `make lab`); nothing measured.")
        return 0
    lab = json.loads(LAB_JSON.read_text())
    if "storage" not in lab:
        print("The lab has no storage node (lab.json without 'storage': run lab/up.sh again); nothing measured.")
        return 0
    guest = guest_files()
    volumes = Volumes()
    try:
        throughput(lab, guest, volumes, args.mib, args.runs)
        migrations(lab, guest, volumes, args.fill_mib)
    finally:
        volumes.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
