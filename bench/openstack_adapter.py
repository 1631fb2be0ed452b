"""The OpenStack-compatible API's cost next to the native one, in-process on a throwaway SQLite
database: `GET /servers/detail` at 1,000 servers (what `openstack server list` asks) against
the native list at its largest page, and one server's show both ways (the adapter's overhead
per call: Keystone token lookup plus the Nova body). Median and p95, SQL queries per request.

    .venv/bin/python bench/openstack_adapter.py [--servers 1000] [--requests 20]

Prints figures; asserts nothing. The CLI scenario's wall time is printed by
tests/openstack/test_clients.py (its start-up dominates: see the README).
"""

import argparse
import logging
import statistics
import time

import django_env  # noqa: F401  (sets Django up first)

from compute_ops import p95
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from compute.models import Cluster, Flavor, Host, Image, Instance
from openstack_api.models import KeystoneToken
from portal.models import Membership, Project

NATIVE_PAGE = 500  # the native API's largest page


def seed(count):
    member = get_user_model().objects.create_user("member", password="x")
    project = Project.objects.create(name="bench")
    Membership.objects.create(project=project, user=member, role="member")
    cluster = Cluster.objects.create(name="bench")
    host = Host.objects.create(name="h1", uri="qemu+ssh://root@h1.example/system", cluster=cluster, state="up")
    flavor = Flavor.objects.create(name="s1", vcpus=1, ram_mb=1024, disk_gb=10)
    image = Image.objects.create(name="bench", volume="bench.qcow2")
    Instance.objects.bulk_create(
        (
            Instance(
                project=project,
                name=f"vm{n}",
                flavor=flavor,
                image=image,
                host=host,
                vcpus=1,
                ram_mb=1024,
                disk_gb=10,
                state="active",
                power_state="running",
            )  # fmt: skip
            for n in range(count)
        ),
        batch_size=1000,
    )
    _, token = KeystoneToken.issue(member, project, "password")
    return member, token, Instance.objects.first()


def measure(call, requests):
    latencies, queries = [], []
    for _ in range(requests):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = call()
            latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content[:300]
        queries.append(len(captured))
    return latencies, queries


def line(label, latencies, queries):
    print(
        f"  {label:<44} median {statistics.median(latencies):8.2f} ms   p95 {p95(latencies):8.2f} ms   "
        f"queries {min(queries)}-{max(queries)}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    member, token, one = seed(args.servers)
    print(f"{args.servers} servers in one project, {args.requests} requests each:")
    openstack = Client(headers={"X-Auth-Token": token})
    native = APIClient()
    native.force_authenticate(member)
    line(
        f"OpenStack GET /servers/detail ({min(args.servers, 1000)} servers)",
        *measure(lambda: openstack.get("/openstack/compute/v2.1/servers/detail"), args.requests),
    )
    line(
        f"native GET /api/v1/instances/ (page of {NATIVE_PAGE})",
        *measure(lambda: native.get(f"/api/v1/instances/?page_size={NATIVE_PAGE}"), args.requests),
    )
    line(
        "OpenStack GET /servers/{id}",
        *measure(lambda: openstack.get(f"/openstack/compute/v2.1/servers/{one.uuid}"), args.requests * 5),
    )
    line(
        "native GET /api/v1/instances/{id}/",
        *measure(lambda: native.get(f"/api/v1/instances/{one.pk}/"), args.requests * 5),
    )
    line(
        "OpenStack GET /flavors/detail",
        *measure(lambda: openstack.get("/openstack/compute/v2.1/flavors/detail"), args.requests * 5),
    )


if __name__ == "__main__":
    main()
