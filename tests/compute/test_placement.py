"""choose_host: the scheduler's placement over a snapshot of the database, a capacity check
when the scheduler cannot run, and reasons for every rejected host."""

import builtins

import pytest

from compute import placement
from compute.choices import HostState, InstanceState
from compute.models import Flavor, Host, Instance


def fill(host, flavor, project, image, count):
    for n in range(count):
        Instance.objects.create(
            project=project,
            name=f"i{n}",
            flavor=flavor,
            image=image,
            host=host,
            vcpus=flavor.vcpus,
            ram_mb=flavor.ram_mb,
            disk_gb=flavor.disk_gb,
            state=InstanceState.ACTIVE,
        )


def test_it_spreads_to_the_host_with_more_free_memory(hosts, flavor, image, project_a):
    host_a, host_b = hosts  # 128 GiB and 96 GiB
    assert placement.choose_host(flavor, project_a) == host_a
    large = Flavor.objects.create(name="m1.large", vcpus=4, ram_mb=16 * 1024, disk_gb=40)
    fill(host_a, large, project_a, image, 3)  # 80 GiB left on host-a
    assert placement.choose_host(flavor, project_a) == host_b


def test_maintenance_hosts_are_rejected_with_the_reason(hosts, flavor, project_a):
    Host.objects.update(state=HostState.MAINTENANCE)
    with pytest.raises(placement.NoValidHost) as err:
        placement.choose_host(flavor, project_a)
    assert "host-a: host-state: host is maintenance" in str(err.value)


def test_cpu_overcommit_of_the_cluster_is_applied(host_a, image, project_a, cluster):
    # host-a has 32 CPUs: with a ratio of 1.0, 32 one-vCPU instances fill it.
    cluster.cpu_overcommit = 1.0
    cluster.save()
    tiny = Flavor.objects.create(name="t", vcpus=1, ram_mb=64, disk_gb=1)
    fill(host_a, tiny, project_a, image, 32)
    with pytest.raises(placement.NoValidHost) as err:
        placement.choose_host(tiny, project_a)
    assert "vcpu" in str(err.value)


@pytest.fixture
def no_scheduler(monkeypatch):
    real_import = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name.startswith("scheduler.core"):
            raise ImportError("scheduler not installed")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)


def test_the_capacity_check_decides_when_the_scheduler_is_missing(
    no_scheduler, hosts, flavor, big_flavor, image, project_a
):
    fill(hosts[1], flavor, project_a, image, 2)
    assert placement.choose_host(flavor, project_a) == hosts[0]
    with pytest.raises(placement.NoValidHost) as err:
        placement.choose_host(big_flavor, project_a)
    assert "memory" in str(err.value)


def test_dedicated_cpus_are_counted_apart(host_a, image, project_a, cluster):
    pinned = Flavor.objects.create(name="p", vcpus=16, ram_mb=1024, disk_gb=1, cpu_policy="dedicated")
    fill(host_a, pinned, project_a, image, 2)  # all 32 host CPUs pinned
    with pytest.raises(placement.NoValidHost) as err:
        placement.choose_host(pinned, project_a)
    assert "dedicated" in str(err.value)
