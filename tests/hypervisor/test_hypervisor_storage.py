import libvirt
import pytest

import hypervisor as hv
from hypervisor import (
    InvalidConfig,
    PoolNotFound,
    PoolSpec,
    VolumeNotFound,
    list_pools,
    list_volumes,
    pool_define_dir,
    pool_delete,
    pool_info,
    pool_refresh,
    pool_start,
    pool_stop,
    storage,
    volume_clone,
    volume_create,
    volume_delete,
    volume_info,
)
from hypervisor.storage import build_pool_xml

GIB = 1024**3


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", "..", "a..b", "", "back\\slash"])
def test_it_rejects_a_volume_name_with_a_path_in_it(host_a, name):
    with pytest.raises(InvalidConfig):
        volume_create(host_a, "default", name, GIB)


def test_it_rejects_a_pool_name_with_dotdot(host_a):
    with pytest.raises(InvalidConfig):
        pool_define_dir(host_a, "..", "/srv/x")


def test_each_demo_node_has_a_default_and_a_shared_dir_pool(host_a):
    pools = {pool.name: (pool.type, pool.active, pool.path) for pool in list_pools(host_a)}
    assert pools == {
        "default": ("dir", True, "/var/lib/libvirt/images"),
        "shared": ("dir", True, "/var/lib/nubes/demo-shared"),  # the same path on every demo node
    }


def test_it_creates_thin_thick_and_linked_volumes(host_a):
    base = volume_create(host_a, "default", "base.qcow2", 10 * GIB)
    thick = volume_create(host_a, "default", "thick.raw", GIB, "raw", allocation_bytes=GIB)
    linked = volume_create(host_a, "default", "linked.qcow2", 10 * GIB, backing_path=base.path)
    assert (base.allocation_bytes, thick.allocation_bytes) == (0, GIB)
    assert (linked.backing_path, linked.backing_format) == (base.path, "qcow2")
    assert [v.name for v in list_volumes(host_a, "default")] == ["base.qcow2", "linked.qcow2", "thick.raw"]
    assert pool_refresh(host_a, "default").allocation_bytes == GIB


def test_it_clones_a_volume_in_full(host_a):
    volume_create(host_a, "default", "golden.qcow2", 4 * GIB)
    clone = volume_clone(host_a, "default", "golden.qcow2", "copy.qcow2")
    assert (clone.capacity_bytes, clone.format, clone.backing_path) == (4 * GIB, "qcow2", None)


def test_it_deletes_a_volume_even_when_asked_to_wipe_it(host_a):
    volume_create(host_a, "default", "gone.qcow2", GIB)
    volume_delete(host_a, "default", "gone.qcow2", wipe=True)
    with pytest.raises(VolumeNotFound):
        volume_info(host_a, "default", "gone.qcow2")


def test_it_rejects_a_backing_file_under_a_raw_volume(host_a):
    with pytest.raises(InvalidConfig):
        volume_create(host_a, "default", "x.raw", GIB, "raw", backing_path="/b.qcow2")


def test_it_manages_a_dir_pool_lifecycle(host_a):
    assert not pool_define_dir(host_a, "scratch", "/srv/scratch").active
    assert pool_start(host_a, "scratch", build=True).autostart
    pool_stop(host_a, "scratch")
    assert not pool_info(host_a, "scratch").active
    pool_delete(host_a, "scratch")
    with pytest.raises(PoolNotFound):
        pool_info(host_a, "scratch")


@pytest.mark.parametrize(
    "spec,expected",
    [
        (
            PoolSpec(
                "nfs",
                "netfs",
                target_path="/mnt/nfs",
                source_host="10.0.0.5",
                source_dir="/export",
                source_format="nfs",
            ),
            ['<host name="10.0.0.5"/>', '<dir path="/export"/>', "<path>/mnt/nfs</path>"],
        ),
        (
            PoolSpec("vg", "logical", source_name="vg0", source_devices=("/dev/sdb",)),
            ['<device path="/dev/sdb"/>', "<name>vg0</name>", "<path>/dev/vg0</path>"],
        ),
        (
            PoolSpec(
                "ceph",
                "rbd",
                source_name="rbd",
                source_hosts=("mon1", "mon2"),
                auth_username="nubes",
                auth_secret_uuid="5f0c...",
            ),
            ['<host name="mon2"/>', '<auth type="ceph" username="nubes">'],
        ),
        (
            PoolSpec(
                "san",
                "iscsi",
                target_path="/dev/disk/by-path",
                source_host="10.0.0.6",
                source_devices=("iqn.2024-01.dev.nubes:lun1",),
            ),
            ['<device path="iqn.2024-01.dev.nubes:lun1"/>'],
        ),
        (
            PoolSpec(
                "gluster",
                "netfs",
                target_path="/mnt/gluster",
                source_host="10.0.0.7",
                source_dir="/gv0",
                source_format="glusterfs",
            ),
            ['<dir path="/gv0"/>', '<format type="glusterfs"/>', "<path>/mnt/gluster</path>"],
        ),
        (
            PoolSpec(
                "san-direct",
                "iscsi-direct",
                source_host="10.0.0.6",
                source_port=3260,
                source_devices=("iqn.2024-01.dev.nubes:t1",),
                initiator_iqn="iqn.2024-01.dev.nubes:host-a",
            ),
            [
                '<host name="10.0.0.6" port="3260"/>',
                '<device path="iqn.2024-01.dev.nubes:t1"/>',
                '<initiator>\n      <iqn name="iqn.2024-01.dev.nubes:host-a"/>',
            ],
        ),
    ],
)
def test_it_builds_pool_xml_for_each_backend(spec, expected):
    xml = build_pool_xml(spec)
    for fragment in expected:
        assert fragment in xml


def test_it_rejects_an_incomplete_pool_spec():
    with pytest.raises(InvalidConfig):
        build_pool_xml(PoolSpec("nfs", "netfs", target_path="/mnt/nfs"))


def test_an_iscsi_direct_pool_needs_an_initiator_name_and_has_no_target_path():
    spec = PoolSpec("san", "iscsi-direct", source_host="10.0.0.6", source_devices=("iqn.2024-01.dev.nubes:t1",))
    with pytest.raises(InvalidConfig, match="iscsi-direct"):
        build_pool_xml(spec)
    xml = build_pool_xml(
        PoolSpec(
            "san",
            "iscsi-direct",
            target_path="/ignored",
            source_host="10.0.0.6",
            source_devices=("iqn.2024-01.dev.nubes:t1",),
            initiator_iqn="iqn.2024-01.dev.nubes:a",
        )
    )
    assert "<target>" not in xml


class SharedPool:
    """A pool whose file another host made: libvirt lists it only after a refresh."""

    def __init__(self, volume):
        self.volume, self.refreshed = volume, 0

    def isActive(self):
        return True

    def refresh(self, flags):
        self.refreshed += 1

    def storageVolLookupByName(self, name):
        if not self.refreshed:
            error = libvirt.libvirtError("Storage volume not found")
            error.err = (libvirt.VIR_ERR_NO_STORAGE_VOL, 0, "Storage volume not found", 0, "", "", "", 0, 0)
            raise error
        return self.volume


def test_it_refreshes_a_pool_once_to_find_a_file_another_host_made(host_a, monkeypatch):
    made = volume_create(host_a, "default", "made-elsewhere.qcow2", GIB)
    real = storage._volume(host_a, "default", made.name)
    shared = SharedPool(real)
    monkeypatch.setattr(storage, "_pool", lambda uri, name: shared)
    assert volume_info(host_a, "default", made.name).path == made.path
    assert shared.refreshed == 1


def test_a_volume_missing_after_a_refresh_is_still_not_found(host_a):
    with pytest.raises(VolumeNotFound):
        volume_info(host_a, "default", "never-made.qcow2")


def test_a_pool_probe_starts_a_transient_copy_of_the_pool_and_stops_it(host_a):
    spec = PoolSpec(
        "san",
        "iscsi-direct",
        source_host="10.0.0.6",
        source_devices=("iqn.2024-01.dev.nubes:t1",),
        initiator_iqn="iqn.2024-01.dev.nubes:a",
    )
    hv.pool_define(host_a, spec)
    hv.pool_start(host_a, "san")
    before = {p.name for p in hv.list_pools(host_a)}
    hv.pool_probe(host_a, "san")  # the test driver's start asks no array: the copy starts
    assert {p.name for p in hv.list_pools(host_a)} == before  # nothing of the probe is left
    with pytest.raises(PoolNotFound):
        hv.pool_probe(host_a, "nothing")
