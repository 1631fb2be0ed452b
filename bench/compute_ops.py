"""The portal's own overhead per instance action, and the reconciler's time at scale.

    .venv/bin/python bench/compute_ops.py [--instances 500] [--hosts 50] [--domains 5000]

Runs in a throwaway SQLite database with Celery eager, against libvirt's test driver: each
action goes API -> service -> task -> gateway in one call. The time spent inside the gateway
(libvirt's test driver) is measured apart, so "portal" is what Nubes itself adds. Prints
figures; asserts nothing.
"""

import argparse
import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from django_env import DATA_DIR, ROOT

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

import hypervisor as hv
from compute.models import Cluster, Flavor, Host, Image, Instance
from compute.tasks import hosts as tasks
from portal.models import Membership, Project, Quota

PERCENTILE_95 = 0.95


def p95(samples):
    ordered = sorted(samples)
    return ordered[min(int(len(ordered) * PERCENTILE_95), len(ordered) - 1)]


def report(label, samples_s):
    ms = [s * 1000 for s in samples_s]
    print(f"  {label:<28} n={len(ms):>5}  median {statistics.median(ms):8.2f} ms   p95 {p95(ms):8.2f} ms")


class GatewayClock:
    """Wraps every public verb of the gateway to add up the time spent inside it."""

    def __init__(self, hv):
        self.spent = 0.0
        for name in getattr(
            hv, "__all__", [n for n in dir(hv) if n.startswith(("domain_", "volume_", "host_", "list_"))]
        ):
            verb = getattr(hv, name)
            if callable(verb) and not isinstance(verb, type):
                setattr(hv, name, self._timed(verb))

    def _timed(self, verb):
        def run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return verb(*args, **kwargs)
            finally:
                self.spent += time.perf_counter() - started

        return run


def setup_world(nodes_dir, name):
    project = Project.objects.create(name=name)
    Quota.objects.filter(project=project).update(limit=10**9)
    user = get_user_model().objects.create_user(name, password="x")
    Membership.objects.create(project=project, user=user, role="member")
    cluster = Cluster.objects.create(name=name)
    hosts = []
    for node in sorted(Path(nodes_dir).glob("*.xml")):
        host = Host.objects.create(name=node.stem, uri=f"test://{node}", cluster=cluster)
        hosts.append(tasks.read_facts_now(host))
    flavor = Flavor.objects.create(name=f"{name}.tiny", vcpus=1, ram_mb=64, disk_gb=1)
    image = Image.objects.create(name=name, volume=f"{name}.qcow2", virtual_size_gb=1)
    return user, project, hosts, flavor, image


def make_nodes(count, prefix):
    """Copies of the demo node file: each path is its own simulated host."""
    folder = Path(tempfile.mkdtemp(prefix="nubes-nodes-"))
    source = ROOT / "hypervisor" / "nodes" / "host-a.xml"
    for n in range(count):
        shutil.copy(source, folder / f"{prefix}-{n:03d}.xml")
    return folder


def bench_actions(count):
    user, _project, _hosts, flavor, image = setup_world(make_nodes(3, "actions"), "actions")
    client = APIClient()
    client.force_authenticate(user)
    clock = GatewayClock(hv)
    totals = {name: [] for name in ("create", "stop", "start", "delete")}
    portal = {name: [] for name in totals}

    def timed(name, call):
        before, started = clock.spent, time.perf_counter()
        response = call()
        elapsed = time.perf_counter() - started
        assert response.status_code == 202, response.content
        totals[name].append(elapsed)
        portal[name].append(elapsed - (clock.spent - before))
        return response

    for n in range(count):
        payload = {"name": f"b{n}", "flavor": flavor.pk, "image": image.pk}
        # The lambdas run inside timed(), in this iteration: binding the loop's values is for the linter.
        pk = timed("create", lambda p=payload: client.post("/api/v1/instances/", p, format="json")).json()["target_id"]
        timed("stop", lambda pk=pk: client.post(f"/api/v1/instances/{pk}/stop/", {"force": True}, format="json"))
        timed("start", lambda pk=pk: client.post(f"/api/v1/instances/{pk}/start/", {}, format="json"))
        timed("delete", lambda pk=pk: client.delete(f"/api/v1/instances/{pk}/"))
    failed = Instance.objects.exclude(state="deleted").count()
    print(f"Instance actions over {count} instances (API -> task -> gateway, libvirt test driver):")
    for name in totals:
        report(f"{name}: total", totals[name])
        report(f"{name}: portal overhead", portal[name])
    print(f"  instances not cleanly deleted: {failed}")


def bench_reconciler(host_count, domain_count):
    user, project, hosts, flavor, image = setup_world(make_nodes(host_count, "reconcile"), "reconcile")
    per_host = domain_count // host_count
    rows = []
    for host in hosts:
        for n in range(per_host):
            instance = Instance(
                project=project,
                name=f"{host.name}-{n}",
                flavor=flavor,
                image=image,
                host=host,
                vcpus=1,
                ram_mb=flavor.ram_mb,
                disk_gb=1,
                state="active",
                power_state="running",
            )
            spec = hv.DomainSpec(
                name=instance.domain_name,
                uuid=str(instance.uuid),
                memory_kib=65536,
                vnc=False,
                instance_id="0",
                project_id=str(project.pk),
            )
            uuid = hv.domain_define(host.uri, hv.build_domain_xml(spec))
            hv.domain_start(host.uri, uuid)
            rows.append(instance)
    Instance.objects.bulk_create(rows)
    drifted = rows[::100]
    for instance in drifted:
        hv.domain_destroy(instance.host.uri, str(instance.uuid))
    started = time.perf_counter()
    summary = tasks.reconcile_all()
    first = time.perf_counter() - started
    started = time.perf_counter()
    tasks.reconcile_all()
    steady = time.perf_counter() - started
    drift = sum(counts.get("drift", 0) for counts in summary.values())
    print(f"Reconciler: {len(rows)} domains on {len(hosts)} simulated hosts")
    print(f"  first pass (fixes {drift} drifted of {len(drifted)} made): {first * 1000:.0f} ms")
    print(f"  steady pass (nothing to fix): {steady * 1000:.0f} ms ({steady * 1e6 / len(rows):.0f} us per domain)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--domains", type=int, default=5000)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    try:
        bench_actions(args.instances)
        bench_reconciler(args.hosts, args.domains)
    finally:
        shutil.rmtree(DATA_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
