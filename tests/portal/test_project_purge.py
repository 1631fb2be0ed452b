"""A purge on simulated hosts with the embedded network backend: the instance's domain, the
networks and the volume leave libvirt, then the project goes; a failing step fails the
Operation with the reason and leaves the rest for a retry."""

import pytest

import hypervisor as hv
from compute.choices import InstanceState
from compute.models import Instance
from hypervisor import networks as hv_networks
from network import services as net
from network.backends.libvirt import libvirt_name
from portal.models import Operation, Project
from storage import services as storage
from storage.models import Volume
from tests.compute.conftest import cluster, flavor, fresh_hosts, host_a, hosts, image, launch  # noqa: F401
from tests.storage.conftest import define_pool

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit runs at once, as in the worker


@pytest.fixture
def tenant(monkeypatch, admin_user, alice, project_a, hosts, launch, run_tasks):
    """alice's project: a network with a subnet and a spare port, an instance on it, a volume."""
    monkeypatch.setenv("NUBES_OVN_NB", "")
    monkeypatch.delenv("NUBES_NETWORK_BACKEND", raising=False)
    with run_tasks():
        network, _ = net.create_network(alice, project_a, name="lan")
        net.create_subnet(alice, network, cidr="10.8.0.0/24", gateway_ip="10.8.0.1")
    with run_tasks():
        net.create_port(alice, project_a, network)
    instance = launch(networks=[network.pk])[1]
    assert instance.state == InstanceState.ACTIVE
    pool = define_pool(admin_user, run_tasks, [hosts[0]], "host-a-default")
    with run_tasks():
        volume, _ = storage.create_volume(alice, project_a, name="data", pool=pool, size_gb=1)
    return {"network": network, "instance": instance, "volume": Volume.objects.get(pk=volume.pk)}


def purge(api, run_tasks, project):
    with run_tasks():
        response = api["admin"].post(f"/api/v1/projects/{project.pk}/purge/")
    assert response.status_code == 202, response.content
    return Operation.objects.get(pk=response.json()["id"])


def domains(host):
    return {d.uuid for d in hv.list_domains(host.uri)}


def volume_names(volume):
    return {v.name for v in hv.list_volumes(volume.pool.hosts.first().uri, volume.pool.libvirt_name)}


def test_a_purge_removes_domains_volumes_networks_and_the_project(api, run_tasks, project_a, tenant):
    instance, volume, network = tenant["instance"], tenant["volume"], tenant["network"]
    assert str(instance.uuid) in domains(instance.host) and volume.libvirt_name in volume_names(volume)
    assert libvirt_name(network) in hv_networks.network_names(instance.host.uri)
    op = purge(api, run_tasks, project_a)
    assert op.status == "succeeded", op.error
    assert op.detail["owned"] == {"instances": 1, "ports": 2, "subnets": 1, "networks": 1, "volumes": 1}
    assert str(instance.uuid) not in domains(instance.host)
    assert volume.libvirt_name not in volume_names(volume)
    assert libvirt_name(network) not in hv_networks.network_names(instance.host.uri)
    assert not Project.objects.filter(pk=project_a.pk).exists()
    assert not Instance.objects.filter(pk=instance.pk).exists()


def test_a_failing_step_fails_the_purge_and_a_retry_finishes(api, run_tasks, project_a, tenant, monkeypatch):
    real = hv.volume_delete

    def refuse_the_data_volume(uri, pool, name, **kwargs):
        if name == tenant["volume"].libvirt_name:
            raise hv.HypervisorError("pool is read-only")
        return real(uri, pool, name, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(hv, "volume_delete", refuse_the_data_volume)
        op = purge(api, run_tasks, project_a)
    assert op.status == "failed"
    assert "data (volumes) failed" in op.error and "pool is read-only" in op.error and "left: 1 volumes" in op.error
    assert Instance.objects.get(pk=tenant["instance"].pk).state == InstanceState.DELETED  # stays deleted
    assert str(tenant["instance"].uuid) not in domains(tenant["instance"].host)
    assert Volume.objects.get(pk=tenant["volume"].pk).state == "error"  # deletable again
    assert api["admin"].delete(f"/api/v1/projects/{project_a.pk}/").json()["owned"] == {"volumes": 1}
    assert purge(api, run_tasks, project_a).status == "succeeded"
    assert not Project.objects.filter(pk=project_a.pk).exists()
