"""Storage fixtures: a simulated host (hypervisor/nodes/host-a.xml) with its default pool
adopted, a second pool, an image volume, and alice's instance defined on the host."""

import uuid

import pytest
from django.conf import settings

import hypervisor as hv
from compute.choices import HostState, InstanceState
from compute.models import Cluster, Flavor, Host, Image, Instance
from storage import services
from storage.models import StoragePool

NODES = settings.BASE_DIR / "hypervisor" / "nodes"
GIB = 1024**3


@pytest.fixture(autouse=True)
def fresh_hosts(settings):
    settings.NUBES_BLOCKJOB_POLL_S = 0
    hv.close_all()
    hv.forget_simulated_jobs()
    yield
    hv.close_all()
    hv.forget_simulated_jobs()


def make_host(name, cluster):
    return Host.objects.create(
        name=name,
        uri=f"test://{NODES / f'{name}.xml'}",
        cluster=cluster,
        state=HostState.UP,
        simulated=True,
        cpus=32,
        memory_mb=131072,
    )


@pytest.fixture
def host(db):
    return make_host("host-a", Cluster.objects.create(name="c1"))


@pytest.fixture
def host_b(host):
    return make_host("host-b", host.cluster)


def define_pool(admin_user, run_tasks, hosts, name, libvirt_name="default", target_path="/var/lib/libvirt/images"):
    with run_tasks():
        pool, _ = services.define_pool(
            admin_user, hosts=hosts, name=name, libvirt_name=libvirt_name, type="dir", target_path=target_path
        )
    pool.refresh_from_db()
    return pool


@pytest.fixture
def pool(host, admin_user, run_tasks):
    pool = define_pool(admin_user, run_tasks, [host], "host-a-default")
    assert pool.state == "active", pool.state_reason
    return pool


@pytest.fixture
def fast_pool(host, admin_user, run_tasks):
    with run_tasks():
        pool, _ = services.define_pool(
            admin_user, hosts=[host], name="fast", libvirt_name="fast", type="dir", target_path="/srv/fast"
        )
    pool.refresh_from_db()
    return pool


@pytest.fixture
def image(host):
    hv.volume_create(host.uri, "default", "cirros.qcow2", 2 * GIB)
    return Image.objects.create(name="cirros", pool="default", volume="cirros.qcow2", virtual_size_gb=2)


@pytest.fixture
def flavor(db):
    return Flavor.objects.create(name="small", vcpus=1, ram_mb=512, disk_gb=10)


def make_instance(project, host, flavor, image, state=InstanceState.ACTIVE, name="web"):
    instance = Instance.objects.create(
        project=project,
        name=name,
        flavor=flavor,
        image=image,
        host=host,
        vcpus=1,
        ram_mb=512,
        disk_gb=10,
        state=state,
        uuid=uuid.uuid4(),
    )
    spec = hv.DomainSpec(
        name=instance.domain_name,
        uuid=str(instance.uuid),
        memory_kib=512 * 1024,
        disks=(hv.DiskSpec(target_dev="vda", path=f"/var/lib/libvirt/images/{instance.root_volume}"),),
    )
    hv.domain_define(host.uri, hv.build_domain_xml(spec))
    if state == InstanceState.ACTIVE:
        hv.domain_start(host.uri, str(instance.uuid))
    return instance


@pytest.fixture
def instance(project_a, host, flavor, image):
    return make_instance(project_a, host, flavor, image)


@pytest.fixture
def stopped_instance(project_a, host, flavor, image):
    return make_instance(project_a, host, flavor, image, state=InstanceState.SHUTOFF, name="db")


@pytest.fixture
def make_volume(alice, project_a, pool, run_tasks):
    def make(name="data", size_gb=5, **kwargs):
        with run_tasks():
            volume, op = services.create_volume(
                alice, project_a, name=name, pool=kwargs.pop("pool", pool), size_gb=size_gb, **kwargs
            )
        volume.refresh_from_db()
        op.refresh_from_db()
        assert op.status == "succeeded", op.error
        return volume

    return make


def disk_sources(host, instance):
    xml = hv.domain_xml(host.uri, str(instance.uuid), inactive=True)
    return {disk.target_dev: disk.source for disk in hv.parse_domain_xml(xml).disks}


def pool_volumes(host, pool_name="default"):
    return {vol.name: vol for vol in hv.list_volumes(host.uri, pool_name)}


def reload(obj):
    obj.refresh_from_db()
    return obj


__all__ = ["StoragePool", "disk_sources", "pool_volumes", "reload", "make_instance", "GIB"]
