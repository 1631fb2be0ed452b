"""CPU compatibility has a direction: a host whose CPU is a superset of what a guest uses takes
the guest; a host lacking a feature the guest uses does not. host-a is a Cascadelake-Server,
host-c a Broadwell-noTSX (every Broadwell feature is in Cascadelake, not the other way)."""

import pytest

import hypervisor as hv
from compute.models import Host, Migration, MigrationState
from compute.services import instances as compute_services
from compute.services import migration as service
from portal import operations
from portal.errors import ActionError
from portal.models import Operation
from tests.compute.conftest import add_host, node_uri
from tests.compute.live_helpers import instant, on_host  # noqa: F401
from tests.compute.test_evc import domain_cpu, set_baseline_from


@pytest.fixture
def hosts(cluster, host_a):
    return [host_a, add_host(cluster, "host-c")]


def migrate(run_tasks, instance, target, user):
    with run_tasks():
        op = service.start_migration(instance, target_host=target, user=user, options={"copy_storage": True})
    instance.refresh_from_db()
    return Operation.objects.get(pk=op.pk)


def test_the_superset_host_compares_as_a_superset_of_the_baseline_and_joins(cluster, admin_user, run_tasks):
    set_baseline_from(cluster, node_uri("host-c"))
    assert hv.cpu_compare(node_uri("host-a"), cluster.cpu_baseline_xml) == "superset"
    assert hv.cpu_compare(node_uri("host-c"), cluster.cpu_baseline_xml) == "identical"
    with run_tasks():
        host, op = compute_services.register_host(admin_user, name="host-a", uri=node_uri("host-a"), cluster=cluster)
    assert operations.reload(op.pk).status == "succeeded"
    assert Host.objects.get(pk=host.pk).state == "up"


def test_a_baseline_guest_started_on_the_superset_host_moves_to_the_baseline_host(
    cluster, hosts, launch, admin_user, run_tasks, instant
):
    set_baseline_from(cluster, hosts[1].uri)
    response, instance = launch()
    assert response.status_code == 202 and instance.host == hosts[0]  # the superset host (most memory)
    assert domain_cpu(instance).findtext("model") == "Broadwell-noTSX"
    op = migrate(run_tasks, instance, hosts[1], admin_user)
    assert op.status == "succeeded", op.error
    assert instance.host == hosts[1] and on_host(instance, hosts[1]) == "running"
    assert on_host(instance, hosts[0]) is None


def test_a_guest_using_the_superset_hosts_features_cannot_move_to_the_baseline_host(hosts, launch, admin_user):
    # No baseline: the guest copies host-a's Cascadelake (host-model), which host-c lacks.
    response, instance = launch()
    assert response.status_code == 202 and instance.host == hosts[0]
    before = Operation.objects.count()
    with pytest.raises(ActionError, match=r"host-c cannot run the CPU of host-a \(.*\): its CPU lacks features"):
        service.start_migration(instance, target_host=hosts[1], user=admin_user, options={"copy_storage": True})
    assert Operation.objects.count() == before and not Migration.objects.exists()
    assert on_host(instance, hosts[0]) == "running" and on_host(instance, hosts[1]) is None


def test_a_guest_of_the_baseline_host_moves_to_the_superset_host_without_a_baseline(
    hosts, launch, admin_user, run_tasks, instant
):
    memory = hosts[0].memory_mb
    Host.objects.filter(pk=hosts[0].pk).update(memory_mb=4096)  # placement picks the most free memory: host-c
    response, instance = launch()
    Host.objects.filter(pk=hosts[0].pk).update(memory_mb=memory)
    assert response.status_code == 202 and instance.host == hosts[1], response.json()
    assert domain_cpu(instance).get("mode") == "host-model"  # Broadwell's features only
    op = migrate(run_tasks, instance, hosts[0], admin_user)
    assert op.status == "succeeded", op.error
    assert Migration.objects.get(operation=op).state == MigrationState.SUCCEEDED
    assert instance.host == hosts[0] and on_host(instance, hosts[0]) == "running"
