"""Monitoring at scale: collection per host, sample writes, websocket fan-out.

    .venv/bin/python bench/metrics.py [--domains 500] [--clients 200] [--instances 1000]
                                      [--period 10] [--follow 50]

1. Collection time for one host with N domains: ONE bulk getAllDomainStats call against the
   per-domain calls a naive collector makes (lookup, info, CPU, block and interface stats),
   in process (libvirt's test driver, a node file with N running domains) and, when the
   system libvirtd answers, over its RPC socket (test+unix:///default: N domains defined on
   that private connection). Then Nubes' whole collector for that host (gateway + maths +
   bulk insert + alarms + publishing) in a throwaway SQLite database.
2. Database write rate of samples (bulk_create).
3. Websocket fan-out: C clients each following F instances, I instances publishing once per
   period (spread evenly, as hosts' collections are), then all at once (a burst); messages/s
   delivered and publish->receive latency p50/p99, with the in-memory channel layer and with
   Redis at 127.0.0.1:6379 when it answers. Prints figures; asserts nothing.
"""

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import django_env  # noqa: F401  (sets Django up first)

import libvirt
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer
from django.db import transaction
from redis_probe import REDIS, redis_up

import hypervisor as hv
from compute.metrics import collector
from compute.models import Cluster, Flavor, Host, Image, Instance, InstanceSample
from portal import realtime
from portal.models import Project

LIBVIRTD_URI = "test+unix:///default"
LIBVIRTD_SOCKET = Path("/run/libvirt/libvirt-sock")
REPEAT = 5
SAMPLE_ROWS = 50_000
DRAIN_TIMEOUT_S = 30.0
KIB_PER_GIB = 1024 * 1024


# --- a host with N domains -------------------------------------------------------------------


def domain_xml(index):
    mac = f"52:54:00:{index // 65536 % 256:02x}:{index // 256 % 256:02x}:{index % 256:02x}"
    return (
        f'<domain type="test"><name>bench-{index:04d}</name><uuid>{uuid.UUID(int=index + 1)}</uuid>'
        f"<memory>1048576</memory><vcpu>2</vcpu><os><type>hvm</type></os><devices>"
        f'<disk type="file" device="disk"><source file="/var/lib/bench/{index}.img"/>'
        f'<target dev="vda" bus="virtio"/></disk><interface type="network"><mac address="{mac}"/>'
        f'<source network="default"/></interface></devices></domain>'
    )


def node_file(domains):
    """A test-driver node with ``domains`` running domains (each with a disk and a NIC)."""
    path = Path(tempfile.mkdtemp(prefix="nubes-bench-node-")) / "node.xml"
    path.write_text(
        "<node><cpu><mhz>2400</mhz><model>x86_64</model><active>64</active><nodes>1</nodes><sockets>2</sockets>"
        f"<cores>16</cores><threads>2</threads></cpu><memory>{1024 * KIB_PER_GIB}</memory>"
        '<network><name>default</name><bridge name="virbr0"/><forward/>'
        '<ip address="192.168.122.1" netmask="255.255.255.0"/></network>'
        + "".join(domain_xml(i) for i in range(domains))
        + "</node>"
    )
    return path


def per_domain(conn):
    """What a collector without the bulk call does: several calls per domain."""
    for dom in conn.listAllDomains():
        dom = conn.lookupByUUIDString(dom.UUIDString())
        dom.info()
        dom.getCPUStats(True)
        dom.blockStats("vda")
        dom.interfaceStats(interface_name(dom))


def interface_name(dom):
    # The test driver names NICs testnet0, testnet1 ... in definition order; read it back.
    xml = dom.XMLDesc(0)
    start = xml.index("<target dev='", xml.index("<interface")) + len("<target dev='")
    return xml[start : xml.index("'", start)]


def best(fn, repeat=REPEAT):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_collection(domains):
    print(f"\n1. Collecting one host with {domains} running domains")
    path = node_file(domains)
    uri = f"test://{path}"
    conn = hv.get_connection(uri)
    names = {dom.name(): interface_name(dom) for dom in conn.listAllDomains()[:1]}
    assert names, "the node file defines no domains"
    bulk = best(lambda: hv.bulk_domain_stats(uri))
    raw_bulk = best(lambda: conn.getAllDomainStats(hv.stats.STATS_GROUPS, 0))
    naive = best(lambda: per_domain(conn))
    print(
        f"  in process (test driver)      bulk getAllDomainStats {raw_bulk * 1000:8.2f} ms   "
        f"per-domain calls {naive * 1000:8.2f} ms   ratio {naive / raw_bulk:6.1f}x"
    )
    print(f"  gateway bulk_domain_stats     {bulk * 1000:8.2f} ms (incl. the simulated workload model)")
    if LIBVIRTD_SOCKET.exists():
        try:
            remote = libvirt.open(LIBVIRTD_URI)
        except libvirt.libvirtError as exc:
            print(f"  over libvirtd's socket        skipped: {exc}")
        else:
            for index in range(domains):
                remote.defineXML(domain_xml(index)).create()
            rpc_bulk = best(lambda: remote.getAllDomainStats(hv.stats.STATS_GROUPS, 0))
            rpc_naive = best(lambda: per_domain(remote))
            print(
                f"  over libvirtd's socket (RPC)  bulk getAllDomainStats {rpc_bulk * 1000:8.2f} ms   "
                f"per-domain calls {rpc_naive * 1000:8.2f} ms   ratio {rpc_naive / rpc_bulk:6.1f}x"
            )
            remote.close()
    else:
        print(f"  over libvirtd's socket        skipped: no {LIBVIRTD_SOCKET}")
    return uri


def bench_collector(uri):
    cluster = Cluster.objects.create(name="bench")
    host = Host.objects.create(name="bench-host", uri=uri, cluster=cluster, state="up", simulated=True)
    project = Project.objects.create(name="bench")
    flavor = Flavor.objects.create(name="bench", vcpus=2, ram_mb=1024, disk_gb=1)
    image = Image.objects.create(name="bench", volume="bench.qcow2")
    Instance.objects.bulk_create(
        [
            Instance(
                project=project,
                name=record.name,
                uuid=record.uuid,
                flavor=flavor,
                image=image,
                host=host,
                vcpus=2,
                ram_mb=1024,
                disk_gb=1,
                state="active",
            )
            for record in hv.bulk_domain_stats(uri)
        ]
    )
    at = time.time()
    collector.collect_host(host, at=at)  # the first collection has no rates yet
    times = []
    for step in range(1, REPEAT + 1):
        started = time.perf_counter()
        result = collector.collect_host(host, at=at + 10 * step)
        times.append(time.perf_counter() - started)
    rows = InstanceSample.objects.count()
    print(
        f"  Nubes' collector, whole host  {statistics.median(times) * 1000:8.2f} ms per collection "
        f"({result.instances} instance samples + 1 host sample, published live; {rows} rows so far)"
    )


def bench_writes():
    print("\n2. Writing samples (SQLite file, bulk_create in batches of 500)")
    ids = list(Instance.objects.values_list("pk", flat=True))
    base = int(time.time())
    rows = [
        InstanceSample(
            instance_id=ids[n % len(ids)],
            ts=base + n // len(ids),
            cpu_pct=12.5,
            mem_used_mb=512.0,
            net_rx_bps=1e5,
            net_tx_bps=5e4,
            disk_read_bps=1e6,
            disk_write_bps=2e6,
        )
        for n in range(SAMPLE_ROWS)
    ]
    started = time.perf_counter()
    with transaction.atomic():
        InstanceSample.objects.bulk_create(rows, batch_size=500)
    elapsed = time.perf_counter() - started
    print(f"  {SAMPLE_ROWS} samples in {elapsed:.2f} s: {SAMPLE_ROWS / elapsed:,.0f} samples/s")


# --- websocket fan-out -----------------------------------------------------------------------


def payload(instance):
    values = {
        name: random.random() * 100
        for name in (
            "cpu_pct",
            "mem_used_mb",
            "mem_balloon_mb",
            "mem_available_mb",
            "disk_read_bps",
            "disk_write_bps",
            "disk_read_iops",
            "disk_write_iops",
            "net_rx_bps",
            "net_tx_bps",
            "net_rx_pps",
            "net_tx_pps",
        )
    }
    return {"scope": "instance", "id": instance, "ts": int(time.time()), "simulated": True, "values": values}


async def fanout(layer, clients, instances, follow, period):
    rng = random.Random(7)
    channels = [await layer.new_channel() for _ in range(clients)]
    followers = [0] * instances
    for channel in channels:
        for instance in rng.sample(range(instances), follow):
            followers[instance] += 1
            await layer.group_add(f"compute.instance.{instance}", channel)
    latencies, received = [], [0]

    async def client(channel):
        while True:
            message = await layer.receive(channel)
            latencies.append(time.perf_counter() - message["sent"])
            received[0] += 1

    async def publish(instance):
        group = f"compute.instance.{instance}"
        await layer.group_send(
            group,
            {
                "type": "relay",
                "group": group,
                "event": "metrics",
                "data": payload(instance),
                "sent": time.perf_counter(),
            },
        )

    async def drain(expected):
        deadline = time.perf_counter() + DRAIN_TIMEOUT_S
        while received[0] < expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)

    readers = [asyncio.create_task(client(channel)) for channel in channels]
    results = {}
    for mode in ("paced", "burst"):
        latencies.clear()
        received[0] = 0
        started = time.perf_counter()
        for index in range(instances):
            if mode == "paced":
                await asyncio.sleep(max(0.0, started + index * period / instances - time.perf_counter()))
            await publish(index)
        await drain(sum(followers))
        elapsed = time.perf_counter() - started
        ordered = sorted(latencies) or [float("nan")]
        results[mode] = (
            received[0],
            sum(followers),
            elapsed,
            ordered[len(ordered) // 2],
            ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        )
    for task in readers:
        task.cancel()
    return results


def bench_fanout(clients, instances, follow, period):
    print(
        f"\n3. Websocket fan-out: {clients} clients each following {follow} of {instances} instances; "
        f"every instance publishes once per {period:g} s (paced), then all at once (burst)"
    )
    layers = [("in-memory", lambda: InMemoryChannelLayer(capacity=10_000))]
    if redis_up():
        prefix = f"nubes-bench-{uuid.uuid4().hex[:8]}"
        layers.append(
            (
                "redis",
                lambda: RedisChannelLayer(hosts=[f"redis://{REDIS[0]}:{REDIS[1]}"], prefix=prefix, capacity=10_000),
            )
        )
    else:
        print(f"  redis: nothing answers at {REDIS[0]}:{REDIS[1]}; skipped")
    for name, make in layers:
        results = asyncio.run(fanout(make(), clients, instances, follow, period))
        for mode, (got, expected, elapsed, p50, p99) in results.items():
            print(
                f"  {name:<9} {mode:<5} delivered {got:>6}/{expected:<6} in {elapsed:6.2f} s = "
                f"{got / elapsed:8,.0f} msg/s   latency p50 {p50 * 1000:7.2f} ms  p99 {p99 * 1000:7.2f} ms"
            )


def bench_publish_helper(count=2000):
    """The cost of portal.realtime.publish from a worker thread (what the collector calls)."""
    started = time.perf_counter()
    for n in range(count):
        realtime.publish(f"compute.instance.{n}", "metrics", payload(n))
    per_call = (time.perf_counter() - started) / count
    print(
        f"\n  portal.realtime.publish from a worker thread: {per_call * 1e6:.0f} µs per message "
        f"(in-memory layer, no subscriber) -> {1 / per_call:,.0f} messages/s per worker"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--domains", type=int, default=500)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--follow", type=int, default=50, help="instances each client follows")
    parser.add_argument("--period", type=float, default=10.0)
    args = parser.parse_args(argv)
    uri = bench_collection(args.domains)
    bench_collector(uri)
    bench_writes()
    bench_fanout(args.clients, args.instances, args.follow, args.period)
    bench_publish_helper()
    return 0


if __name__ == "__main__":
    sys.exit(main())
