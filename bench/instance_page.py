"""The instance page's cost in the web process: wall and CPU time per request, and its SQL queries.

    .venv/bin/python bench/instance_page.py [--instances 366] [--requests 200] [--profile 0]

What bench/load.py's readers ask for, asked in-process through Django's test client (no server,
no test instrumentation): a cloud admin signed in opens one instance's page, the instance with
as many operations, events and metric samples (all seven metrics, every 10 s) as there are
instances (the page lists the last 20 of each and charts the last hour), in a cluster of three hosts on libvirt's test driver (two
migration targets) with a shared storage pool. Under load the web process's CPU per request
decides the page's tail, so CPU time is printed beside wall time; the collector runs with the web
process's thresholds (NUBES_GC_THRESHOLDS, deploy/nubes.sh web's 50000,20,100 unless set: Python's
defaults add a full collection's pause to some requests). A throwaway SQLite database by
default; PostgreSQL with NUBES_BENCH_DATABASE_URL (bench/django_env.py); the cache on Redis at
127.0.0.1:6379 (db NUBES_BENCH_REDIS_DB, 15 by default) when it answers. ``--profile N`` then
prints cProfile's top functions over N more requests. Prints figures; asserts nothing.
"""

import argparse
import cProfile
import gc
import logging
import os
import pstats
import statistics
import time
import uuid

from redis_probe import REDIS, redis_up

if redis_up():
    os.environ["REDIS_URL"] = f"redis://{REDIS[0]}:{REDIS[1]}/{os.environ.get('NUBES_BENCH_REDIS_DB', '15')}"
    os.environ["NUBES_CHANNEL_PREFIX"] = f"nubes-bench-{uuid.uuid4().hex[:8]}"

import django_env  # noqa: F401  (sets Django up first)

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test import Client

import hypervisor as hv
from compute.choices import HostState, Visibility
from compute.models import Cluster, Flavor, Host, Image, Instance, InstanceEvent, InstanceSample
from compute.tasks import hosts as host_tasks
from portal.env import gc_thresholds
from portal.models import Operation, Project
from storage.choices import PoolState
from storage.models import StoragePool, Volume

WEB_GC_THRESHOLDS = "50000,20,100"  # deploy/nubes.sh web's default
NODES = django_env.ROOT / "hypervisor" / "nodes"
SAMPLE_STEP_S = 10
P90 = 0.9


def seed(count):
    """count instances (with a volume each) on host-a, and count operations, events and samples of
    the first; host-b and host-c up beside it; returns (admin, the first instance)."""
    admin = get_user_model().objects.create_user("admin", password="x", is_staff=True, is_superuser=True)
    project = Project.objects.create(name="acme")
    cluster = Cluster.objects.create(name="demo")
    hosts = []
    for name in ("host-a", "host-b", "host-c"):
        host = Host.objects.create(
            name=name, uri=f"test://{NODES / f'{name}.xml'}", cluster=cluster, state=HostState.DOWN
        )
        host_tasks.apply_facts(host, hv.host_facts(host.uri))
        hosts.append(host)
    pool = StoragePool.objects.create(
        name="shared", libvirt_name="shared", target_path="/var/lib/nubes/shared", state=PoolState.ACTIVE
    )
    pool.hosts.set(hosts)
    flavor = Flavor.objects.create(name="m1.small", vcpus=1, ram_mb=2048, disk_gb=20)
    image = Image.objects.create(name="cirros", volume="cirros.qcow2", virtual_size_gb=1, visibility=Visibility.PUBLIC)
    Instance.objects.bulk_create(
        Instance(
            project=project,
            name=f"vm{n}",
            flavor=flavor,
            image=image,
            host=hosts[0],
            vcpus=1,
            ram_mb=flavor.ram_mb,
            disk_gb=flavor.disk_gb,
            state="active",
        )
        for n in range(count)
    )
    first = Instance.objects.order_by("pk").first()
    Volume.objects.bulk_create(
        Volume(project=project, name=f"v{n}", pool=pool, size_gb=1, state="available") for n in range(count)
    )
    Operation.objects.bulk_create(
        Operation(
            kind="instance.reboot",
            target_type="compute.instance",
            target_id=str(first.pk),
            target_name=first.name,
            project=project,
            requester=admin,
            status="succeeded",
        )
        for _ in range(count)
    )
    InstanceEvent.objects.bulk_create(
        InstanceEvent(instance=first, source="libvirt", kind="started") for _ in range(count)
    )
    now = int(time.time())
    InstanceSample.objects.bulk_create(  # every metric, as the collector writes them
        InstanceSample(
            instance=first,
            ts=now - SAMPLE_STEP_S * n,
            cpu_pct=n % 100 + 0.5,
            mem_used_mb=512 + n,
            mem_balloon_mb=1024,
            disk_read_bps=1000 * n,
            disk_write_bps=700 * n,
            net_rx_bps=13 * n,
            net_tx_bps=7 * n,
        )
        for n in range(count)
    )
    return admin, first


def percentile(samples, fraction):
    ordered = sorted(samples)
    return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=366)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    admin, instance = seed(args.instances)
    os.environ.setdefault("NUBES_GC_THRESHOLDS", WEB_GC_THRESHOLDS)
    thresholds = gc_thresholds("NUBES_GC_THRESHOLDS")
    if thresholds:  # set empty: Python's defaults, as the web process then
        gc.set_threshold(*thresholds)
    cache.clear()
    client = Client()
    client.force_login(admin)
    url = f"/compute/instances/{instance.pk}/"
    for _ in range(10):  # warm: templates compiled, connections open
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
    queries = []
    with connection.execute_wrapper(lambda execute, sql, *rest: queries.append(sql) or execute(sql, *rest)):
        client.get(url)
    walls, cpus = [], []
    for _ in range(args.requests):
        cpu, wall = time.process_time(), time.perf_counter()
        client.get(url)
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    database = connection.vendor + (" + Redis" if os.environ.get("REDIS_URL") else "")
    print(
        f"GET {url} as a cloud admin ({database}; {args.instances} instances, operations, events and "
        f"samples; 2 migration targets; gc {','.join(map(str, gc.get_threshold()))}), {args.requests} requests: {len(response.content) // 1024} KiB, "
        f"{len(queries)} queries"
    )
    for label, samples in (("wall", walls), ("CPU", cpus)):
        print(
            f"  {label:<4}  median {statistics.median(samples):6.1f} ms   p90 {percentile(samples, P90):6.1f} ms"
            f"   min {min(samples):6.1f} ms"
        )
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(lambda: [client.get(url) for _ in range(args.profile)])
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
