"""Demo data for `manage.py seed_demo`: a cluster of simulated hosts, flavors, an image."""

from django.conf import settings

from compute.choices import CpuPolicy, HostState, Visibility, WatchdogAction
from compute.models import Cluster, Flavor, Host, Image
from compute.tasks import hosts as tasks

CLUSTER = "demo"
IMAGE = "cirros-demo"
SHARED_POOL = "shared"  # declared in every node file of hypervisor/nodes
FLAVORS = [
    {"name": "m1.tiny", "vcpus": 1, "ram_mb": 512, "disk_gb": 1},
    {"name": "m1.small", "vcpus": 1, "ram_mb": 2048, "disk_gb": 20},
    {"name": "m1.medium", "vcpus": 2, "ram_mb": 4096, "disk_gb": 40},
    {"name": "m1.large", "vcpus": 4, "ram_mb": 8192, "disk_gb": 80},
    {
        "name": "q1.qos",
        "vcpus": 2,
        "ram_mb": 2048,
        "disk_gb": 20,
        "cpu_shares": 512,
        "cpu_reservation_mhz": 500,
        "cpu_limit_pct": 50,
    },
    {
        "name": "p1.numa",
        "vcpus": 4,
        "ram_mb": 4096,
        "disk_gb": 20,
        "cpu_policy": CpuPolicy.DEDICATED,
        "numa_nodes": 2,
        "hugepages": True,
        "nic_queues": 4,
        "watchdog": WatchdogAction.RESET,
    },
]


def seed(stdout):
    cluster, _ = Cluster.objects.get_or_create(
        name=CLUSTER, defaults={"description": "Simulated hosts (libvirt test driver)"}
    )
    for node in sorted(settings.NUBES_NODES_DIR.glob("*.xml")):
        host, _ = Host.objects.get_or_create(
            name=node.stem, defaults={"uri": f"test://{node.resolve()}", "cluster": cluster, "state": HostState.DOWN}
        )
        tasks.read_facts_now(host)
        stdout.write(f"host {host.name}: {host.cpus} CPUs, {host.memory_mb} MB (simulated)")
    for spec in FLAVORS:
        Flavor.objects.get_or_create(name=spec["name"], defaults=spec)
    # On simulated hosts the image's volume is made in the host's pool on first use; the
    # 'shared' pool every demo host sees (storage's demo registers it): instances move live
    # without copying their root disks.
    Image.objects.get_or_create(
        name=IMAGE,
        project=None,
        defaults={
            "volume": f"{IMAGE}.qcow2",
            "pool": SHARED_POOL,
            "virtual_size_gb": 1,
            "visibility": Visibility.PUBLIC,
            "min_ram_mb": 64,
        },
    )
    stdout.write(f"compute: cluster {CLUSTER}, {len(FLAVORS)} flavors, image {IMAGE}")


def real_resources(limit=5):
    """Names and URIs of hosts that are not libvirt's test driver (a few, for seed_demo's
    refusal: the demo does not go beside a real fleet)."""
    hosts = Host.objects.exclude(uri__startswith="test:").order_by("name")
    return [f"{h.name} {h.uri}" for h in hosts[:limit]] + (["..."] if hosts.count() > limit else [])
