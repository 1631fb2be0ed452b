"""An instance whose build failed can always be deleted: a root-disk pool or a domain that is
not on the host is nothing left to remove, not an error; its ports (and their addresses) go."""

import pytest

import hypervisor as hv
from compute.models import Host, Image, Instance
from network.models import IPAllocation, Port
from portal.models import Operation
from tests.compute.conftest import fresh_hosts  # noqa: F401 (autouse: new simulated hosts per test)
from tests.network.test_instance_ports import launch, launchable, make_network, succeeded  # noqa: F401

pytestmark = pytest.mark.django_db


def test_a_build_failed_on_a_missing_pool_is_deleted_and_its_port_address_released(
    api,
    alice,
    project_a,
    run_tasks,
    launchable,  # noqa: F811
):
    flavor, image = launchable
    # The hosts reported a pool nubes-shared that is gone by the build (undefined outside Nubes).
    Image.objects.filter(pk=image.pk).update(pool="nubes-shared")
    for host in Host.objects.all():
        Host.objects.filter(pk=host.pk).update(facts={**host.facts, "pools": ["default", "nubes-shared"]})
    network = make_network(alice, project_a, run_tasks)
    response = launch(api, run_tasks, launchable, networks=[network.pk])
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "failed" and "nubes-shared" in op.error
    instance = Instance.objects.get(pk=op.target_id)
    assert instance.state == "error"
    [port] = Port.objects.filter(instance=instance)
    address = port.ip_allocations.get().address

    with run_tasks():
        response = api["alice"].delete(f"/api/v1/instances/{instance.pk}/")
    succeeded(response)
    instance.refresh_from_db()
    assert instance.state == "deleted"
    assert not Port.objects.filter(pk=port.pk).exists()
    assert not IPAllocation.objects.filter(address=address).exists()
    assert hv.list_domains(instance.host.uri) == ()
