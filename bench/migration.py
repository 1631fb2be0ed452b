"""Live migration: total time, downtime and data transferred for a 256 MiB guest at unlimited
and 10 MiB/s bandwidth, and the delay from a job-stats sample to a subscriber receiving it.

    .venv/bin/python bench/migration.py [--bandwidths 0,10] [--simulated]

On the lab (lab/state/lab.json, see lab/README.md) it boots the lab's busybox guest on host A
and live-migrates it A -> B -> A through the gateway (migrate3 + jobStats polling). Without
the lab it says so and runs the SIMULATED case: the gateway's pre-copy model between two
test-driver hosts, in real time. The delay is measured through Nubes' own path: the progress
callback stores the sample on a Migration row and publishes it (portal.realtime) to the
migration's group; a subscriber on the channel layer (Redis when it answers at
127.0.0.1:6379, else the in-memory layer) timestamps receipt. Prints figures; asserts nothing.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "lab" / "guest"))  # boot_test: the lab guest's boot and heartbeat
from redis_probe import REDIS, redis_up

# Before Django is set up (django_env, below): with Redis, a cross-thread channel layer.
if redis_up():
    os.environ["REDIS_URL"] = f"redis://{REDIS[0]}:{REDIS[1]}/0"

import django_env  # noqa: F401  (sets Django up)

import boot_test
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers, get_channel_layer
from django.conf import settings

import hypervisor as hv
from compute.models import Cluster, Flavor, Host, Image, Instance, Migration
from compute.tasks import migration as migration_tasks
from portal import operations
from portal.models import Project

LAB_JSON = ROOT / "lab" / "state" / "lab.json"
GUEST_MIB = 256
MIB = 1024 * 1024
HEARTBEAT_TIMEOUT_S = 90
RECEIVE_POLL_S = 0.005
# A UUID whose simulated dirty rate is the model's lowest (0.5 % of memory per second).
SIMULATED_UUID = "000003e8-0000-4000-8000-00000000b001"


def layer_name():
    return settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]


def simulated_hosts():
    """Two test-driver node files: A runs a 256 MiB guest, B is empty."""
    folder = Path(tempfile.mkdtemp(prefix="nubes-bench-mig-"))
    cpu = (
        "<cpu><mhz>2400</mhz><model>x86_64</model><active>4</active><nodes>1</nodes><sockets>1</sockets>"
        "<cores>4</cores><threads>1</threads></cpu><memory>16777216</memory>"
    )
    guest = (
        f'<domain type="test"><name>bench-guest</name><uuid>{SIMULATED_UUID}</uuid>'
        f'<memory unit="MiB">{GUEST_MIB}</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>'
    )
    (folder / "a.xml").write_text(f"<node>{cpu}{guest}</node>")
    (folder / "b.xml").write_text(f"<node>{cpu}</node>")
    return f"test://{folder / 'a.xml'}", f"test://{folder / 'b.xml'}", SIMULATED_UUID, None


def lab_hosts():
    """Boot the lab guest on host A; (uri A, uri B, uuid, lab) once its heartbeat runs."""
    lab = json.loads(LAB_JSON.read_text())
    name = f"nubes-bench-{uuid.uuid4().hex[:6]}"
    log = boot_test.boot(lab, name)
    boot_test.wait_heartbeat(log, timeout=HEARTBEAT_TIMEOUT_S)
    uri_a, uri_b = lab["hosts"][0]["uri"], lab["hosts"][1]["uri"]
    domain = next(d for d in hv.list_domains(uri_a) if d.name == name)
    return uri_a, uri_b, domain.uuid, (lab, name, boot_test)


class Subscriber:
    """Listens on a group from its own thread and event loop; records receipt times."""

    def __init__(self, group):
        self.group, self.received, self.ready = group, {}, threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self.run()), daemon=True)
        self.thread.start()
        self.ready.wait(10)

    async def run(self):
        # Redis: a layer of our own (one event loop per layer); in-memory: the shared one,
        # since messages only reach subscribers of the same layer object.
        layer = get_channel_layer()
        if not layer.__class__.__name__.startswith("InMemory"):
            layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        channel = await layer.new_channel()
        await layer.group_add(self.group, channel)
        self.ready.set()
        while not self.stop.is_set():
            try:
                message = await asyncio.wait_for(layer.receive(channel), RECEIVE_POLL_S * 100)
            except TimeoutError:
                continue
            if message.get("event") == "migration.progress":
                self.received[message["data"]["sample"]["elapsed_ms"]] = time.time()


def run_one(uri_a, uri_b, uuid_, bandwidth, real, migration_uri=None):
    """One migration through Nubes' progress path; returns (result, delays in ms)."""
    cluster = Cluster.objects.get_or_create(name="bench")[0]
    hosts = [
        Host.objects.get_or_create(uri=uri, defaults={"name": f"h{n}-{uuid.uuid4().hex[:4]}", "cluster": cluster})[0]
        for n, uri in enumerate((uri_a, uri_b))
    ]
    project = Project.objects.get_or_create(name="bench")[0]
    flavor = Flavor.objects.get_or_create(name="bench", defaults={"vcpus": 1, "ram_mb": GUEST_MIB, "disk_gb": 1})[0]
    image = Image.objects.get_or_create(name="bench", defaults={"volume": "bench.qcow2"})[0]
    instance = Instance.objects.update_or_create(
        uuid=uuid_,
        defaults={
            "project": project,
            "name": "bench-guest",
            "flavor": flavor,
            "image": image,
            "host": hosts[0],
            "vcpus": 1,
            "ram_mb": GUEST_MIB,
            "disk_gb": 1,
            "state": "active",
        },
    )[0]
    op = operations.begin("instance.migrate", instance, cancellable=True)
    migration = Migration.objects.create(
        instance=instance, source=hosts[0], target=hosts[1], operation=op, state="running", simulated=not real
    )
    sent = {}
    relay = migration_tasks.ProgressRelay(migration, op)

    def on_progress(progress):
        sent[progress.elapsed_ms] = time.time()  # when the job's statistics were read
        relay(progress)

    subscriber = Subscriber(migration.group)
    options = hv.MigrationOptions(bandwidth_mib_s=bandwidth or None, migration_uri=migration_uri)
    result = hv.migrate_domain(uri_a, uri_b, uuid_, options, on_progress, relay.control)
    time.sleep(0.2)
    subscriber.stop.set()
    operations.succeed(op)
    delays = [1000 * (subscriber.received[k] - sent[k]) for k in sent if k in subscriber.received]
    return result, delays, len(sent)


def report(label, result, delays, polls):
    downtime = f"{result.downtime_ms} ms" if result.downtime_ms is not None else "?"
    print(
        f"  {label:<26} total {result.total_ms / 1000:6.2f} s   downtime {downtime:>8}   transferred "
        f"{result.data_transferred / MIB:8.1f} MiB   iterations {result.iterations:>3}"
    )
    if delays:
        print(
            f"  {'':<26} job stats -> subscriber: {len(delays)}/{polls} samples, median "
            f"{statistics.median(delays):.1f} ms, max {max(delays):.1f} ms"
        )
    else:
        print(f"  {'':<26} job stats -> subscriber: no sample arrived ({polls} published)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bandwidths", default="0,10", help="MiB/s, 0 = unlimited")
    parser.add_argument("--simulated", action="store_true", help="skip the lab even when it is up")
    args = parser.parse_args(argv)
    layer = layer_name()
    bandwidths = [int(b) for b in args.bandwidths.split(",")]
    real = LAB_JSON.exists() and not args.simulated
    if real:
        uri_a, uri_b, uuid_, lab = lab_hosts()
        print(f"Lab: live migration of a {GUEST_MIB} MiB TCG guest between two libvirtd (channel layer: {layer})")
    else:
        why = "--simulated was asked" if LAB_JSON.exists() else f"{LAB_JSON} is missing: run `make lab`"
        print(f"Real figures need the lab ({why}).")
        print(
            f"SIMULATED: the gateway's pre-copy model between two test-driver hosts, in real time "
            f"(channel layer: {layer})"
        )
        uri_a, uri_b, uuid_, lab = simulated_hosts()
    try:
        for bandwidth in bandwidths:
            label = f"{'unlimited' if not bandwidth else f'{bandwidth} MiB/s'} A -> B"
            hosts = lab[0]["hosts"] if real else None
            result, delays, polls = run_one(
                uri_a, uri_b, uuid_, bandwidth, real, hosts[1].get("migration_uri") if real else None
            )
            report(label + ("" if real else " [simulated]"), result, delays, polls)
            result, delays, polls = run_one(
                uri_b, uri_a, uuid_, bandwidth, real, hosts[0].get("migration_uri") if real else None
            )
            report(label.replace("A -> B", "B -> A") + ("" if real else " [simulated]"), result, delays, polls)
    finally:
        if real:
            lab_, name, boot_test = lab
            boot_test.remove(uri_a, name)
            Path(boot_test.serial_log(lab_, name)).unlink(missing_ok=True)  # its serial log
    return 0


if __name__ == "__main__":
    sys.exit(main())
