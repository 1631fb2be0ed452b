"""Storage operations timed through the gateway: a linked clone vs a full copy of a 1 GiB
image, and a live move (blockCopy + pivot) of a 1 GiB disk of a running guest.

    .venv/bin/python bench/storage_ops.py [--uri qemu:///system] [--size-gib 1]

On a real libvirtd (qemu:///system answering, dir pools made under /var/lib/nubes) it times
real work on images filled with data (a zero image would let qemu-img skip everything). The
live move boots its own lab guest (`make lab` must be up: lab/state/lab.json gives the kernel
and initramfs), attaches a 1 GiB disk full of data, mirrors it into another pool and pivots,
and reports whether the guest's serial heartbeat kept advancing meanwhile; the guest, disks
and pools are removed afterwards. Without a libvirtd it says that it needs the lab, then
measures on libvirt's test driver, labelled SIMULATED: those figures show the code path's
overhead, not disk speed. Prints figures; asserts nothing.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("NUBES_LIBVIRT_OPEN_TIMEOUT", "15")

import hypervisor as hv  # noqa: E402

GIB = 1024**3
BENCH_POOL = "nubes-bench"
BENCH_POOL_PATH = "/var/lib/nubes/bench-pool"
MOVE_POOL = "nubes-bench-move"
MOVE_POOL_PATH = "/var/lib/nubes/bench-move"
ROOT = Path(__file__).resolve().parents[1]
NODE = ROOT / "hypervisor" / "nodes" / "host-a.xml"
LAB_JSON = ROOT / "lab" / "state" / "lab.json"
POLL_S = 0.2
FILL_PATTERN = 0x5A  # what fills the images: non-zero, so every byte is really copied
GUEST_MEMORY_KIB = 256 * 1024
HEARTBEAT = re.compile(r"nubes-heartbeat (\d+)")
BOOT_TIMEOUT_S = 90


def timed(call):
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def ensure_pool(uri, name, path):
    try:
        return hv.pool_info(uri, name)
    except hv.PoolNotFound:
        hv.pool_define_dir(uri, name, path)
        return hv.pool_start(uri, name, build=not hv.is_simulated(uri))


def clean(uri, pool, *names):
    for name in names:
        try:
            hv.volume_delete(uri, pool, name)
        except hv.VolumeNotFound:
            continue


def clones(uri, size, label):
    pool = ensure_pool(uri, BENCH_POOL, BENCH_POOL_PATH).name
    clean(uri, pool, "base.qcow2", "linked.qcow2", "full.qcow2")
    base = hv.volume_create(uri, pool, "base.qcow2", size, "qcow2", allocation_bytes=size)
    if not hv.is_simulated(uri):
        fill(base.path, size)
    linked_s, _ = timed(lambda: hv.volume_create(uri, pool, "linked.qcow2", size, "qcow2", backing_path=base.path))
    full_s, _ = timed(lambda: hv.volume_copy(uri, pool, "base.qcow2", pool, "full.qcow2"))
    print(
        f"[{label}] {size // GIB} GiB image: linked clone {linked_s * 1000:.1f} ms, full copy {full_s * 1000:.1f} ms"
        f" ({full_s / linked_s if linked_s else float('inf'):.0f}x)"
    )
    clean(uri, pool, "linked.qcow2", "full.qcow2", "base.qcow2")
    hv.pool_delete(uri, pool, delete_data=True)  # leave the host as we found it


def fill(path, size):
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", f"write -P {FILL_PATTERN:#x} 0 {size}", path],
        check=True,
        capture_output=True,
        timeout=600,
    )


def last_beat(log):
    beats = HEARTBEAT.findall(Path(log).read_text(errors="replace")) if Path(log).exists() else []
    return int(beats[-1]) if beats else None


def boot_guest(uri, lab):
    """The lab guest (direct kernel boot, TCG), named uniquely; returns (uuid, serial log)."""
    guest = lab["guest"]
    name = f"nubes-bench-storage-{uuid.uuid4().hex[:8]}"
    log = f"{guest['serial_log_dir']}/{name}.log"
    spec = hv.DomainSpec(
        name=name,
        memory_kib=GUEST_MEMORY_KIB,
        domain_type=lab["kvm"]["virt_type"],
        kernel=guest["kernel"],
        initrd=guest["initrd"],
        cmdline=f"{guest['cmdline']} nubes.hostname={name}",
        serial_log_path=log,
        vnc=False,
    )
    dom = hv.domain_define(uri, hv.build_domain_xml(spec))
    hv.domain_start(uri, dom)
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while last_beat(log) is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"the bench guest {name} printed no heartbeat in {BOOT_TIMEOUT_S}s")
        time.sleep(POLL_S)
    return dom, log


def live_move(uri, size, label):
    if not LAB_JSON.exists():
        print(f"[{label}] live disk move: needs the lab's guest ({LAB_JSON} is missing: make lab)")
        return
    source_pool = ensure_pool(uri, BENCH_POOL, BENCH_POOL_PATH).name
    target_pool = ensure_pool(uri, MOVE_POOL, MOVE_POOL_PATH).name
    dom, log = boot_guest(uri, json.loads(LAB_JSON.read_text()))
    try:
        disk = hv.volume_create(uri, source_pool, "live.qcow2", size, "qcow2")
        fill(disk.path, size)
        hv.disk_attach(uri, dom, hv.DiskSpec(target_dev="vdb", path=disk.path))
        target = hv.volume_create(uri, target_pool, "live-moved.qcow2", size, "qcow2")
        before = last_beat(log)
        started = time.perf_counter()
        hv.block_copy(uri, dom, "vdb", target.path)
        while (job := hv.block_job(uri, dom, "vdb")) is not None and not job.ready:
            time.sleep(POLL_S)
        hv.block_job_abort(uri, dom, "vdb", pivot=True)
        took = time.perf_counter() - started
        moved = job.end if job is not None else size
        after = last_beat(log)
        print(
            f"[{label}] live move of a {size // GIB} GiB disk (full of data) of a running TCG guest: {took:.2f} s, "
            f"{moved / took / (1 << 20):.0f} MiB/s; guest heartbeat {before} -> {after} during the move"
        )
        hv.disk_detach(uri, dom, "vdb")
    finally:
        hv.domain_destroy(uri, dom)
        hv.domain_undefine(uri, dom)
        Path(log).unlink(missing_ok=True)
        clean(uri, source_pool, "live.qcow2")
        clean(uri, target_pool, "live-moved.qcow2")
        hv.pool_delete(uri, source_pool, delete_data=True)
        hv.pool_delete(uri, target_pool, delete_data=True)


def simulated_move(uri, size):
    spec = hv.DomainSpec(
        name="bench-guest",
        memory_kib=256 * 1024,
        disks=(hv.DiskSpec(target_dev="vda", path="/var/lib/libvirt/images/guest.qcow2"),),
    )
    uuid = hv.domain_define(uri, hv.build_domain_xml(spec))
    hv.domain_start(uri, uuid)
    took, _ = timed(lambda: _copy_and_pivot(uri, uuid))
    print(
        f"[SIMULATED test driver] live move (modelled block job, {size // GIB} GiB): {took * 1000:.1f} ms of gateway "
        "overhead; real throughput needs the lab"
    )


def _copy_and_pivot(uri, uuid):
    hv.block_copy(uri, uuid, "vda", "/srv/fast/guest.qcow2")
    while not hv.block_job(uri, uuid, "vda").ready:
        pass
    hv.block_job_abort(uri, uuid, "vda", pivot=True)


def real_libvirtd(uri):
    try:
        hv.get_connection(uri)
    except hv.HypervisorError as exc:
        print(f"No libvirtd answers at {uri} ({exc}).")
        return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", default="qemu:///system")
    parser.add_argument("--size-gib", type=int, default=1)
    args = parser.parse_args()
    size = args.size_gib * GIB
    if not hv.is_simulated(args.uri) and real_libvirtd(args.uri):
        clones(args.uri, size, f"real {args.uri}")
        live_move(args.uri, size, f"real {args.uri}")
        return
    print("These figures need the lab (a real libvirtd with a dir pool): measuring on the test driver instead.")
    uri = f"test://{NODE}"
    clones(uri, size, "SIMULATED test driver")
    simulated_move(uri, size)


if __name__ == "__main__":
    main()
