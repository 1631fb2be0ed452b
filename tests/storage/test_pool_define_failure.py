"""A pool whose start fails on a host (the lab's kernel iSCSI, LVM, whole-disk and Ceph pools:
tests/integration/test_pool_types_lab.py): the pool is in error with libvirt's reason, the
definition this define made there is gone again, one it adopted stays, and the pool deletes.
The test driver starts any pool, so its start is patched (autospec) to fail as libvirtd did on
the lab; the define, the undefine and the delete are the test driver's own."""

from unittest import mock

import pytest

import hypervisor as hv
from storage import services
from storage.models import StoragePool
from storage.tasks import pools as pool_tasks
from tests.storage.conftest import reload

LAB_ERROR = (
    "internal error: /usr/bin/iscsiadm failed new mode for target 'iqn.2026-12.lab.nubes:san1' with status '127'"
)


@pytest.fixture
def failing_start(monkeypatch):
    start = mock.create_autospec(hv.pool_start, side_effect=hv.OperationFailed(LAB_ERROR))
    monkeypatch.setattr(hv, "pool_start", start)
    return start


def define_iscsi(admin_user, run_tasks, host, name="san-kernel"):
    with run_tasks():
        pool, op = services.define_pool(
            admin_user,
            hosts=[host],
            name=name,
            libvirt_name=name,
            type="iscsi",
            source_host="10.99.2.10",
            source_device="iqn.2026-12.lab.nubes:san1",
            target_path="/dev/disk/by-path",
        )
    return reload(pool), reload(op)


def libvirt_pools(host):
    return {info.name for info in hv.list_pools(host.uri)}


def test_a_pool_that_cannot_start_is_in_error_with_libvirts_reason_and_not_left_defined(
    admin_user, run_tasks, host, failing_start
):
    pool, op = define_iscsi(admin_user, run_tasks, host)
    assert failing_start.called
    assert op.status == "failed" and LAB_ERROR in op.error
    assert pool.state == "error" and pool.state_reason == f"host-a: {LAB_ERROR}"
    assert "san-kernel" not in libvirt_pools(host)
    with run_tasks():
        removal = services.delete_pool(admin_user, pool)
    assert reload(removal).status == "succeeded", reload(removal).error
    assert not StoragePool.objects.filter(pk=pool.pk).exists()


def test_a_pool_the_define_adopted_stays_defined_when_it_cannot_start(admin_user, run_tasks, host, failing_start):
    spec = hv.PoolSpec(name="theirs", type="dir", target_path="/srv/theirs")
    hv.pool_define(host.uri, spec)
    pool, op = define_iscsi(admin_user, run_tasks, host, name="theirs")
    assert op.status == "failed" and pool.state == "error"
    assert "theirs" in libvirt_pools(host)


def test_a_ceph_pool_names_each_monitor_as_a_host(host):
    pool = StoragePool(
        name="ceph", libvirt_name="ceph", type="rbd", source_host="10.99.2.10, 10.99.2.11", source_name="rbd"
    )
    pool.full_clean()
    xml = hv.storage.build_pool_xml(pool_tasks._pool_spec(pool, host)).replace("'", '"')
    assert '<host name="10.99.2.10"/>' in xml and '<host name="10.99.2.11"/>' in xml
    assert "<name>rbd</name>" in xml
