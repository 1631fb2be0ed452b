"""List endpoints at scale: 10,000 instances in 20 projects and 500 hosts in a throwaway
SQLite database; median and p95 latency and SQL queries per request at page size 50.

    .venv/bin/python bench/api_list.py [--instances 10000] [--projects 20] [--hosts 500] [--requests 50]

Prints figures; asserts nothing.
"""

import argparse
import logging
import statistics
import time

import django_env  # noqa: F401  (sets Django up first)

from compute_ops import p95
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from compute.models import Cluster, Flavor, Host, Image, Instance
from portal.models import Membership, Operation, Project

PAGE_SIZE = 50
OPERATIONS_PER_INSTANCE = 1


def seed(instance_count, project_count, host_count):
    User = get_user_model()
    staff = User.objects.create_user("staff", password="x", is_staff=True)
    member = User.objects.create_user("member", password="x")
    projects = [Project.objects.create(name=f"p{n:02d}") for n in range(project_count)]
    Membership.objects.create(project=projects[0], user=member, role="member")
    cluster = Cluster.objects.create(name="scale")
    Host.objects.bulk_create(
        Host(
            name=f"h{n:03d}",
            uri=f"qemu+ssh://root@h{n:03d}.example/system",
            cluster=cluster,
            state="up",
            cpus=64,
            mhz=2400,
            memory_mb=512 * 1024,
            facts={"cpu_model": "Cascadelake-Server"},
        )
        for n in range(host_count)
    )
    hosts = list(Host.objects.all())
    flavor = Flavor.objects.create(name="s1", vcpus=1, ram_mb=1024, disk_gb=10)
    image = Image.objects.create(name="scale", volume="scale.qcow2")
    Instance.objects.bulk_create(
        (
            Instance(
                project=projects[n % project_count],
                name=f"vm{n}",
                flavor=flavor,
                image=image,
                host=hosts[n % host_count],
                vcpus=1,
                ram_mb=1024,
                disk_gb=10,
                state="active",
                power_state="running",
            )
            for n in range(instance_count)
        ),
        batch_size=1000,
    )
    Operation.objects.bulk_create(
        (
            Operation(
                kind="instance.create",
                target_type="compute.instance",
                target_id=str(pk),
                target_name=f"vm{pk}",
                project_id=project_id,
                requester=staff,
                status="succeeded",
            )
            for pk, project_id in Instance.objects.values_list("pk", "project_id")
        ),
        batch_size=1000,
    )
    return {"staff": staff, "member": member}


def measure(client, url, requests):
    latencies, queries = [], []
    for _ in range(requests):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content[:200]
        queries.append(len(captured))
    return latencies, queries


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    started = time.perf_counter()
    users = seed(args.instances, args.projects, args.hosts)
    print(
        f"Seeded {args.instances} instances in {args.projects} projects, {args.hosts} hosts, "
        f"{args.instances * OPERATIONS_PER_INSTANCE} operations in {time.perf_counter() - started:.1f} s"
    )
    print(f"Page size {PAGE_SIZE}, {args.requests} requests each:")
    for who, user in users.items():
        client = APIClient()
        client.force_authenticate(user)
        for resource in ("instances", "hosts", "operations"):
            latencies, queries = measure(client, f"/api/v1/{resource}/?page_size={PAGE_SIZE}", args.requests)
            print(
                f"  {resource:<11} as {who:<6}  median {statistics.median(latencies):7.2f} ms   "
                f"p95 {p95(latencies):7.2f} ms   queries/request {min(queries)}-{max(queries)}"
            )


if __name__ == "__main__":
    main()
