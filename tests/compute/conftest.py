"""Compute fixtures: a cluster of simulated hosts (libvirt's test driver, fresh per test),
the demo-like flavors, an image and a key pair."""

from pathlib import Path

import pytest

import hypervisor as hv
from compute.choices import CpuPolicy, HostState, Visibility
from compute.models import Cluster, Flavor, Host, Image, KeyPair
from compute.tasks import hosts as host_tasks
from compute.tasks import lifecycle

NODES = Path(__file__).resolve().parents[2] / "hypervisor" / "nodes"
ED25519_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGp4T9wZ8e0n7dW3v0yQm6b1H2d8J2x4Q3k7cJ9g5Vtl alice@laptop"


def node_uri(name):
    return f"test://{NODES / f'{name}.xml'}"


@pytest.fixture(autouse=True)
def fresh_hosts(monkeypatch):
    """Every test gets new simulated hosts, and no libvirt event thread touching the DB."""
    monkeypatch.setattr(lifecycle, "WATCH_EVENTS", False)
    hv.close_all()
    yield
    hv.close_all()


def add_host(cluster, name):
    host = Host.objects.create(name=name, uri=node_uri(name), cluster=cluster, state=HostState.DOWN)
    host_tasks.apply_facts(host, hv.host_facts(host.uri))
    return host


@pytest.fixture
def cluster(db):
    return Cluster.objects.create(name="demo")


@pytest.fixture
def host_a(cluster):
    return add_host(cluster, "host-a")


@pytest.fixture
def hosts(cluster, host_a):
    return [host_a, add_host(cluster, "host-b")]


@pytest.fixture
def flavor(db):
    return Flavor.objects.create(name="m1.small", vcpus=1, ram_mb=2048, disk_gb=20)


@pytest.fixture
def big_flavor(db):
    return Flavor.objects.create(name="m1.colossal", vcpus=8, ram_mb=4 * 1024 * 1024, disk_gb=20)


@pytest.fixture
def pinned_flavor(db):
    return Flavor.objects.create(
        name="p1.numa",
        vcpus=4,
        ram_mb=4096,
        disk_gb=20,
        cpu_policy=CpuPolicy.DEDICATED,
        numa_nodes=2,
        hugepages=True,
        nic_queues=4,
        watchdog="reset",
        cpu_shares=2048,
        cpu_limit_pct=50,
    )


@pytest.fixture
def image(db):
    return Image.objects.create(name="cirros", volume="cirros.qcow2", virtual_size_gb=1, visibility=Visibility.PUBLIC)


@pytest.fixture
def key_pair(project_a):
    key = KeyPair(project=project_a, name="laptop", public_key=ED25519_KEY)
    key.clean()
    key.save()
    return key


@pytest.fixture
def launch(api, run_tasks, hosts, flavor, image):
    """launch(user='alice', **fields) -> (response, Instance or None), tasks run eagerly."""
    from compute.models import Instance

    def do(user="alice", **fields):
        payload = {"name": "web-1", "flavor": flavor.pk, "image": image.pk, **fields}
        with run_tasks():
            response = api[user].post("/api/v1/instances/", payload, format="json")
        instance = None
        if response.status_code == 202:
            instance = Instance.objects.select_related("host").get(pk=response.json()["target_id"])
        return response, instance

    return do
