"""Storage operations timed through the gateway: a linked clone vs a full copy of a 1 GiB
image, and a live move (blockCopy + pivot) of a 1 GiB disk of a running guest.

    .venv/bin/python bench/storage_ops.py [--uri qemu:///system] [--size-gib 1]

On a real libvirtd (qemu:///system answering, a dir pool made under /var/lib/nubes) it times
real work; the live move needs a running guest (the lab's, `lab/up`) and says so when there
is none. Without a libvirtd it says that it needs the lab, then measures on libvirt's test
driver, labelled SIMULATED: those figures show the code path's overhead, not disk speed.
Prints figures; asserts nothing.
"""
import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("NUBES_LIBVIRT_OPEN_TIMEOUT", "15")

import hypervisor as hv  # noqa: E402

GIB = 1024**3
BENCH_POOL = "nubes-bench"
BENCH_POOL_PATH = "/var/lib/nubes/bench-pool"
MOVE_POOL = "nubes-bench-move"
MOVE_POOL_PATH = "/var/lib/nubes/bench-move"
NODE = Path(__file__).resolve().parents[1] / "hypervisor" / "nodes" / "host-a.xml"
POLL_S = 0.2


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
    linked_s, _ = timed(lambda: hv.volume_create(uri, pool, "linked.qcow2", size, "qcow2", backing_path=base.path))
    full_s, _ = timed(lambda: hv.volume_copy(uri, pool, "base.qcow2", pool, "full.qcow2"))
    print(f"[{label}] {size // GIB} GiB image: linked clone {linked_s * 1000:.1f} ms, full copy {full_s * 1000:.1f} ms"
          f" ({full_s / linked_s if linked_s else float('inf'):.0f}x)")
    clean(uri, pool, "linked.qcow2", "full.qcow2", "base.qcow2")
    hv.pool_delete(uri, pool, delete_data=True)  # leave the host as we found it


def running_guest_disk(uri):
    for domain in hv.list_domains(uri):
        if domain.state != "running":
            continue
        disks = hv.parse_domain_xml(hv.domain_xml(uri, domain.uuid)).disks
        for disk in disks:
            if disk.device == "disk" and disk.source and disk.source.startswith("/"):
                return domain, disk
    return None, None


def live_move(uri, size, label):
    domain, disk = running_guest_disk(uri)
    if domain is None:
        print(f"[{label}] live disk move: no running guest with a file disk here; start the lab (lab/up) and rerun")
        return
    pool = ensure_pool(uri, MOVE_POOL, MOVE_POOL_PATH).name
    clean(uri, pool, "moved.qcow2")
    dest = hv.volume_create(uri, pool, "moved.qcow2", size, "qcow2")
    hv.disk_attach(uri, domain.uuid, hv.DiskSpec(target_dev="vdz", path=dest.path))
    target = hv.volume_create(uri, pool, "moved-target.qcow2", size, "qcow2")
    started = time.perf_counter()
    hv.block_copy(uri, domain.uuid, "vdz", target.path)
    while (job := hv.block_job(uri, domain.uuid, "vdz")) is not None and not job.ready:
        time.sleep(POLL_S)
    hv.block_job_abort(uri, domain.uuid, "vdz", pivot=True)
    took = time.perf_counter() - started
    print(f"[{label}] live move of a {size // GIB} GiB disk of {domain.name}: {took:.2f} s, "
          f"{size / took / (1 << 20):.0f} MiB/s")
    hv.disk_detach(uri, domain.uuid, "vdz")
    clean(uri, pool, "moved.qcow2", "moved-target.qcow2")
    hv.pool_delete(uri, pool, delete_data=True)


def simulated_move(uri, size):
    spec = hv.DomainSpec(name="bench-guest", memory_kib=256 * 1024,
                         disks=(hv.DiskSpec(target_dev="vda", path="/var/lib/libvirt/images/guest.qcow2"),))
    uuid = hv.domain_define(uri, hv.build_domain_xml(spec))
    hv.domain_start(uri, uuid)
    took, _ = timed(lambda: _copy_and_pivot(uri, uuid))
    print(f"[SIMULATED test driver] live move (modelled block job, {size // GIB} GiB): {took * 1000:.1f} ms of gateway "
          "overhead; real throughput needs the lab")


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
    if real_libvirtd(args.uri):
        clones(args.uri, size, f"real {args.uri}")
        live_move(args.uri, size, f"real {args.uri}")
        return
    print("These figures need the lab (a real libvirtd with a dir pool): measuring on the test driver instead.")
    uri = f"test://{NODE}"
    clones(uri, size, "SIMULATED test driver")
    simulated_move(uri, size)


if __name__ == "__main__":
    main()
