"""The metrics pipeline's cost as the fleet grows, at 1,000 and 5,000 simulated instances.

    .venv/bin/python bench/metrics_scale.py [--fleets 1000 5000] [--per-host 50] [--cycles 6]

Hosts on libvirt's test driver (a node file each, ``--per-host`` running domains with a disk and a
NIC), every domain an instance of one project, one cloud-wide alarm rule watching them all. One
collection cycle is what beat's ``collect_all`` fans out: ``collector.collect_host`` for every
host (getAllDomainStats, rates, samples written in bulk, the cursor, alarms) and the websocket
publish of every value (per instance, host and cluster group). After a minute of cycles
(``--cycles`` at the 10 s interval) one ``rollup_and_prune`` averages that minute. Prints, per
fleet: wall and CPU time per cycle and for its publish share, database statements and rows
written per cycle, messages published, the rollup's cost, and what it adds up to per minute
(worker CPU seconds per minute, i.e. cores busy). Publishing goes through Redis at
127.0.0.1:6379 (db NUBES_BENCH_REDIS_DB, 15 by default) when it answers, else the in-memory
layer. Asserts nothing.
"""

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from redis_probe import REDIS, redis_up

if redis_up():
    os.environ["REDIS_URL"] = f"redis://{REDIS[0]}:{REDIS[1]}/{os.environ.get('NUBES_BENCH_REDIS_DB', '15')}"
    os.environ["NUBES_CHANNEL_PREFIX"] = f"nubes-bench-{uuid.uuid4().hex[:8]}"

import django_env  # noqa: F401  (sets Django up first)

from django.db import connection

from compute.metrics import collector, rollups
from compute.metrics.schedule import metrics_interval
from compute.models import AlarmRule, Cluster, Flavor, Host, HostSample, Image, Instance, InstanceSample
from compute.models.metrics import RAW, Comparison, Scope
from portal import realtime
from portal.models import Project

KIB_PER_GIB = 1024 * 1024
WRITES = ("INSERT", "UPDATE", "DELETE")


def domain_xml(index):
    mac = f"52:54:00:{index // 65536 % 256:02x}:{index // 256 % 256:02x}:{index % 256:02x}"
    return (
        f'<domain type="test"><name>i-{index:05d}</name><uuid>{uuid.UUID(int=index + 1)}</uuid>'
        f"<memory>1048576</memory><vcpu>2</vcpu><os><type>hvm</type></os><devices>"
        f'<disk type="file" device="disk"><source file="/var/lib/bench/{index}.img"/>'
        f'<target dev="vda" bus="virtio"/></disk><interface type="network"><mac address="{mac}"/>'
        f'<source network="default"/></interface></devices></domain>'
    )


def node_uri(first, count):
    path = Path(tempfile.mkdtemp(prefix="nubes-bench-node-", dir=django_env.DATA_DIR)) / "node.xml"
    path.write_text(
        "<node><cpu><mhz>2400</mhz><model>x86_64</model><active>128</active><nodes>1</nodes><sockets>2</sockets>"
        f"<cores>32</cores><threads>2</threads></cpu><memory>{1024 * KIB_PER_GIB}</memory>"
        '<network><name>default</name><bridge name="virbr0"/><forward/>'
        '<ip address="192.168.122.1" netmask="255.255.255.0"/></network>'
        + "".join(domain_xml(first + i) for i in range(count))
        + "</node>"
    )
    return f"test://{path}"


def build_fleet(instances, per_host):
    """Hosts with ``instances`` running domains in all, each domain a Nubes instance."""
    cluster = Cluster.objects.create(name=f"bench-{instances}")
    project = Project.objects.get_or_create(name="bench")[0]
    flavor = Flavor.objects.get_or_create(name="bench", vcpus=2, ram_mb=1024, disk_gb=1)[0]
    image = Image.objects.get_or_create(name="bench", volume="bench.qcow2")[0]
    base = Instance.objects.count()
    hosts, rows = [], []
    for first in range(0, instances, per_host):
        count = min(per_host, instances - first)
        host = Host.objects.create(
            name=f"h{instances}-{first // per_host:03d}",
            uri=node_uri(base + first, count),
            cluster=cluster,
            state="up",
            simulated=True,
        )
        hosts.append(host)
        rows += [
            Instance(
                project=project,
                name=f"i-{base + first + i:05d}",
                uuid=uuid.UUID(int=base + first + i + 1),
                flavor=flavor,
                image=image,
                host=host,
                vcpus=2,
                ram_mb=1024,
                disk_gb=1,
                state="active",
            )
            for i in range(count)
        ]
    Instance.objects.bulk_create(rows, batch_size=1000)
    return hosts


class Statements:
    """Counts the database statements run (and the writes among them) while installed."""

    def __init__(self):
        self.total = self.writes = 0

    def __call__(self, execute, sql, params, many, context):
        self.total += 1
        self.writes += sql.lstrip().split(" ", 1)[0].upper() in WRITES
        return execute(sql, params, many, context)


class Timed:
    """Wall and CPU time spent in the collector's publish step, and the messages it sent."""

    def __init__(self, publish, per_message):
        self.publish, self.wall, self.cpu, self.messages = publish, 0.0, 0.0, 0
        self.real = realtime.publish, realtime.publish_many
        self.per_message = per_message

    def install(self):
        collector.publish_collection, realtime.publish, realtime.publish_many = self, self.one, self.many

    def remove(self):
        collector.publish_collection = self.publish
        realtime.publish, realtime.publish_many = self.real

    def one(self, *args, **kwargs):
        self.messages += 1
        return self.real[0](*args, **kwargs)

    def many(self, messages):
        messages = list(messages)
        if self.per_message:  # as before publish_many: one publish (an event loop, a connection) each
            for message in messages:
                self.real[0](*message)
        else:
            self.real[1](messages)
        self.messages += len(messages)

    def __call__(self, *args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return self.publish(*args, **kwargs)
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu


def rows():
    return InstanceSample.objects.count() + HostSample.objects.count()


def cycle(hosts, at):
    for host in hosts:
        collector.collect_host(host, at=at)


def measure(instances, per_host, cycles, interval, per_message):
    InstanceSample.objects.all().delete()  # a smaller fleet's samples: this fleet's rollup starts afresh
    HostSample.objects.all().delete()
    hosts = build_fleet(instances, per_host)
    start = (int(time.time()) // 60 + 1) * 60  # a minute's start: the rollup averages whole minutes
    cycle(hosts, start - interval)  # the first collection has no rates yet
    timed = Timed(collector.publish_collection, per_message)
    timed.install()
    statements, before = Statements(), rows()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        with connection.execute_wrapper(statements):
            for step in range(cycles):
                cycle(hosts, start + step * interval)
    finally:
        timed.remove()
    wall, cpu = (time.perf_counter() - wall) / cycles, (time.process_time() - cpu) / cycles
    written = (rows() - before) / cycles

    rolled = Statements()
    rollup_wall, rollup_cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(rolled):
        result = rollups.rollup_and_prune(start + cycles * interval)
    rollup_wall, rollup_cpu = time.perf_counter() - rollup_wall, time.process_time() - rollup_cpu

    per_minute = 60 / interval
    print(
        f"\n{instances:,} instances on {len(hosts)} hosts ({per_host} each), {cycles} cycles at {interval} s:\n"
        f"  cycle      {wall:7.2f} s wall, {cpu:6.2f} s CPU; {statements.total / cycles:6.0f} statements "
        f"({statements.writes / cycles:.0f} writes), {written:,.0f} sample rows\n"
        f"  publish    {timed.wall / cycles:7.2f} s wall, {timed.cpu / cycles:6.2f} s CPU of it; "
        f"{timed.messages / cycles:,.0f} messages ({realtime_layer()}"
        f"{', one publish per message as before publish_many' if per_message else ', publish_many per host'})\n"
        f"  rollup     {rollup_wall:7.2f} s wall, {rollup_cpu:6.2f} s CPU; {rolled.total} statements, "
        f"{result['written']:,} rows written, {result['deleted']} pruned\n"
        f"  per minute {wall * per_minute + rollup_wall:7.2f} s wall, "
        f"{cpu * per_minute + rollup_cpu:6.2f} s CPU = {(cpu * per_minute + rollup_cpu) / 60:.2f} cores busy; "
        f"a cycle takes {wall / interval:.0%} of its interval"
    )
    return wall


def realtime_layer():
    return "Redis" if os.environ.get("REDIS_URL") else "in-memory layer"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fleets", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--per-host", type=int, default=50)
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument(
        "--per-message", action="store_true", help="publish one message at a time, as before publish_many (slow)"
    )
    args = parser.parse_args(argv)
    interval = metrics_interval()
    AlarmRule.objects.create(
        name="cpu-hot", scope=Scope.INSTANCE, metric="cpu_pct", comparison=Comparison.GT, threshold=99.0, duration_s=60
    )
    print(
        f"SQLite file database; raw samples kept {rollups.retention(RAW)} s; "
        f"{'Redis ' + os.environ['REDIS_URL'] if os.environ.get('REDIS_URL') else 'in-memory channel layer'}"
    )
    for instances in args.fleets:
        measure(instances, args.per_host, args.cycles, interval, args.per_message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
