"""choose_host: the scheduler's placement over a snapshot of the database, reasons for every
rejected host, and a scheduler error that surfaces (no fallback algorithm)."""

import pytest

import hypervisor as hv
from compute.choices import HostState, InstanceState
from compute.models import Flavor, Host, Instance
from compute.services import placement
from compute.tasks import hosts as tasks


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


@pytest.mark.parametrize("error", [TypeError, ValueError, AttributeError, KeyError])
def test_a_scheduler_bug_fails_the_launch_loudly(monkeypatch, hosts, flavor, project_a, error):
    """The errors the old fallback swallowed (and then placed by another algorithm) reach the caller."""

    def broken(request, snapshot, policy):
        raise error("scheduler bug")

    monkeypatch.setattr(placement, "place", broken)
    with pytest.raises(error, match="scheduler bug"):
        placement.choose_host(flavor, project_a)
    assert not Instance.objects.exists()


def test_a_scheduler_bug_fails_the_api_launch_and_creates_nothing(monkeypatch, api, hosts, flavor, image):
    def broken(request, snapshot, policy):
        raise KeyError("scheduler bug")

    monkeypatch.setattr(placement, "place", broken)
    with pytest.raises(KeyError):
        api["alice"].post("/api/v1/instances/", {"name": "x", "flavor": flavor.pk, "image": image.pk}, format="json")
    assert not Instance.objects.exists()


def test_dedicated_cpus_are_counted_apart(host_a, image, project_a, cluster):
    pinned = Flavor.objects.create(name="p", vcpus=16, ram_mb=1024, disk_gb=1, cpu_policy="dedicated")
    fill(host_a, pinned, project_a, image, 2)  # all 32 host CPUs pinned
    with pytest.raises(placement.NoValidHost) as err:
        placement.choose_host(pinned, project_a)
    assert "dedicated" in str(err.value)


def test_launches_go_only_to_hosts_whose_root_disk_pool_is_active(hosts, flavor, project_a, tmp_path):
    host_a, host_b = hosts
    assert set(host_a.facts["pools"]) >= {"default"}
    with pytest.raises(placement.NoValidHost) as err:
        placement.choose_host(flavor, project_a, pool="nubes-shared")
    message = str(err.value)
    assert "host-a: root-disk-pool: pool nubes-shared is not active on this host" in message
    assert "host-b: root-disk-pool: pool nubes-shared is not active on this host" in message
    hv.pool_define_dir(host_b.uri, "nubes-shared", str(tmp_path))
    hv.pool_start(host_b.uri, "nubes-shared")
    tasks.reconcile_host(host_b)  # the reconciler notices the new pool
    host_b.refresh_from_db()
    assert "nubes-shared" in host_b.facts["pools"]
    assert placement.choose_host(flavor, project_a, pool="nubes-shared") == host_b
    assert placement.choose_host(flavor, project_a, pool="default") == host_a


def test_the_api_refuses_a_launch_no_host_can_serve_the_image_pool_for(api, hosts, flavor, image):
    image.pool = "nubes-shared"
    image.save()
    response = api["alice"].post(
        "/api/v1/instances/", {"name": "x", "flavor": flavor.pk, "image": image.pk}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "pool nubes-shared is not active" in str(response.json())
    assert not Instance.objects.exists()


def test_a_host_that_never_reported_its_pools_is_not_refused_for_them(hosts, flavor, project_a):
    Host.objects.update(facts={})
    assert placement.choose_host(flavor, project_a, pool="nubes-shared") is not None
