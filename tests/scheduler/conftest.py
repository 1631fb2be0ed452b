"""Scheduler fixtures: a cluster of simulated hosts (libvirt's test driver, fresh per test),
instances placed on them as rows, and a stand-in for compute's migration contract.

`fake_migrations` replaces only the seam compute owns (`compute.migration.start_migration`
and `restart_on`): each call makes an Operation whose task moves the instance row, so the
scheduler's own flow (approve -> operations -> finalize -> measured imbalance) runs for real.
"""

from pathlib import Path

import pytest
from django.db import transaction

import hypervisor as hv
from compute.choices import HostState, InstanceState, Visibility
from compute.models import Cluster, Flavor, Host, Image, Instance
from compute.tasks import hosts as host_tasks
from compute.tasks import lifecycle
from portal import operations
from portal.errors import ActionError
from portal.tasks import run_operation
from scheduler.power import simulated

NODES = Path(__file__).resolve().parents[2] / "hypervisor" / "nodes"
GIB_MB = 1024


def node_uri(name):
    return f"test://{NODES / f'{name}.xml'}"


@pytest.fixture(autouse=True)
def fresh_hosts(monkeypatch):
    monkeypatch.setattr(lifecycle, "WATCH_EVENTS", False)
    hv.close_all()
    simulated.reset()
    yield
    hv.close_all()
    simulated.reset()


def add_host(cluster, name):
    host = Host.objects.create(name=name, uri=node_uri(name), cluster=cluster, state=HostState.DOWN)
    host_tasks.apply_facts(host, hv.host_facts(host.uri))
    return host


@pytest.fixture
def cluster(db):
    return Cluster.objects.create(name="demo")


@pytest.fixture
def hosts(cluster):
    """host-a (32 CPUs, 128 GiB), host-b (24 CPUs, 96 GiB), host-c (24 CPUs, 64 GiB)."""
    return [add_host(cluster, name) for name in ("host-a", "host-b", "host-c")]


@pytest.fixture
def image(db):
    return Image.objects.create(name="cirros", volume="cirros.qcow2", virtual_size_gb=1, visibility=Visibility.PUBLIC)


@pytest.fixture
def make_instance(project_a, image):
    flavors = {}

    def make(host, name, ram_gb=16, state=InstanceState.ACTIVE, ha_priority=2, vcpus=2, project=None):
        key = (vcpus, ram_gb)
        if key not in flavors:
            flavors[key] = Flavor.objects.create(
                name=f"f{vcpus}x{ram_gb}", vcpus=vcpus, ram_mb=ram_gb * GIB_MB, disk_gb=10
            )
        flavor = flavors[key]
        return Instance.objects.create(
            project=project or project_a,
            name=name,
            flavor=flavor,
            image=image,
            host=host,
            vcpus=vcpus,
            ram_mb=flavor.ram_mb,
            disk_gb=flavor.disk_gb,
            state=state,
            ha_priority=ha_priority,
        )

    return make


class FakeMigrations:
    """compute's migration contract, shaped as documented, moving rows only."""

    def __init__(self):
        self.calls = []
        self.failing = set()

    def _queue(self, kind, instance, target_host, user, detail):
        op = operations.begin(kind, instance, user=user, project=instance.project, detail=detail)
        transaction.on_commit(lambda: run_operation(op.pk, lambda _op: self._move(instance.pk, target_host)))
        return op

    def _move(self, instance_pk, target):
        if instance_pk in self.failing:
            raise ActionError("simulated migration failure")
        Instance.objects.filter(pk=instance_pk).update(host=target)
        return f"moved to {target.name}"

    def start_migration(self, instance, *, target_host=None, user=None, live=True, options=None, reason=""):
        self.calls.append(("migrate", instance.pk, target_host.pk, live, reason))
        return self._queue("instance.migrate", instance, target_host, user, {"live": live})

    def restart_on(self, instance, target_host, *, reason=""):
        self.calls.append(("restart", instance.pk, target_host.pk, False, reason))
        return self._queue("instance.ha_restart", instance, target_host, None, {"reason": reason})


@pytest.fixture
def fake_migrations(monkeypatch):
    from compute.services import migration

    fake = FakeMigrations()
    monkeypatch.setattr(migration, "start_migration", fake.start_migration)
    monkeypatch.setattr(migration, "restart_on", fake.restart_on, raising=False)
    return fake


@pytest.fixture
def c_in_standby(hosts, admin_user, run_tasks):
    """host-c (empty) put in standby through DPM's power path."""
    from scheduler import choices as c
    from scheduler.services import power

    with run_tasks():
        power.request_power(admin_user, hosts[2], c.PowerAction.STANDBY)
    hosts[2].refresh_from_db()
    assert hosts[2].state == HostState.STANDBY
    return hosts[2]


@pytest.fixture
def busy_with_c_in_standby(hosts, make_instance, c_in_standby):
    """host-c in standby, then host-a and host-b nearly filled."""
    host_a, host_b, host_c = hosts
    make_instance(host_a, "full-a", ram_gb=120)
    make_instance(host_b, "full-b", ram_gb=90)
    return host_c
