"""A detached volume's chain of external snapshots, worked on through lab host B (qemu+tcp, a
remote host where Nubes runs no commands), driven through the API: an offline merge of a middle
snapshot (commit, the active layer repointed), a chain move to the GlusterFS pool and an offline
pull are block jobs of a paused helper domain on host B. After each step `qemu-img info
--backing-chain` equals the database, every block holds what was written, and no helper domain
is left. Host A is set to maintenance in the database so that host B manages the pools."""

import os
import subprocess
import time

import pytest

import hypervisor as hv
from compute.models import Host
from storage.models import StoragePool
from tests.integration.conftest import virsh
from tests.integration.test_instance_external_snapshots_lab import assert_chains, three_points_then_stopped
from tests.integration.test_instance_lifecycle import succeeded
from tests.integration.test_storage_lab import (  # noqa: F401 - api, guest_on_b and pools are fixtures
    FIRST,
    SECOND,
    THIRD,
    TOOL_TIMEOUT_S,
    api,
    assert_chain,
    guest_on_b,
    holds,
    make_volume,
    pools,
    snapshot,
)

pytestmark = pytest.mark.django_db(transaction=True)
SHARED, GLUSTER = "nubes-shared", "nubes-gluster"
BIG = (8, 0x66, 4)  # (MiB offset, byte, MiB): makes a layer the bigger one, choosing the merge's shape

GLUSTER_SETTLE_S = 60


def write(path, mib, pattern, length_mib=1):
    """Write into the detached volume's active file here (the pools are this machine's too)."""
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", f"write -P {pattern:#x} {mib}M {length_mib}M", path],
        capture_output=True,
        timeout=TOOL_TIMEOUT_S,
        check=True,
    )


def sees(volume, *blocks):
    return all(holds(volume.path, mib, pattern) for mib, pattern, *_ in blocks)


def bigger_on_b(host, pool, active, backing, timeout=GLUSTER_SETTLE_S):
    """Wait until host B's libvirt sees the active file hold more than its backing file: the write
    went through this machine's GlusterFS mount and B's mount can report the old size for a
    while (the merge's shape is chosen from those sizes)."""
    deadline = time.monotonic() + timeout
    while True:
        sizes = [hv.volume_info(host.uri, pool, name).allocation_bytes for name in (active, backing)]
        if sizes[0] > sizes[1]:
            return
        assert time.monotonic() < deadline, f"host B still sees {sizes} bytes (active, backing)"
        time.sleep(1)


def helpers_on(host):
    return [d.name for d in hv.list_domains(host.uri) if d.name.startswith(hv.offline_domain.NAME_PREFIX)]


@pytest.fixture
def on_host_b(lab_cloud, host_a, host_b):
    """Host B manages the pools (host A in maintenance, in the database only)."""
    assert host_b.uri.startswith("qemu+tcp://") and not hv.offline.is_local(host_b.uri)
    Host.objects.filter(pk=host_a.pk).update(state="maintenance")
    yield host_b
    assert not helpers_on(host_b)


def test_a_detached_chain_merges_and_moves_offline_on_a_remote_host(api, on_host_b, project_a):
    host_b = on_host_b
    volume = make_volume(api, project_a, StoragePool.objects.get(name=SHARED), "it-remote-chain")
    try:
        write(volume.path, *FIRST, length_mib=2)  # s1's file: bigger than s2's, so s1 merges by commit
        s1 = snapshot(api, volume, "s1")
        volume.refresh_from_db()
        write(volume.path, *SECOND)
        snapshot(api, volume, "s2")
        volume.refresh_from_db()
        write(volume.path, *THIRD)
        assert_chain(volume, length=3)

        # The middle point: s2's layer is committed into s1's file, the active file repointed.
        op = succeeded(api.delete(f"/api/v1/snapshots/{s1.pk}/"))
        assert "offline commit in a paused helper domain" in op.message, op.message
        chain = assert_chain(volume, length=2)
        assert chain[1] == s1.layer_path and sees(volume, FIRST, SECOND, THIRD)

        # The whole chain moves to GlusterFS, layer by layer (shallow copies).
        gluster = StoragePool.objects.get(name=GLUSTER)
        op = succeeded(api.post(f"/api/v1/volumes/{volume.pk}/migrate/", {"pool": gluster.pk}, format="json"))
        assert op.message.startswith(f"Moved 2 layers to pool {GLUSTER}"), op.message
        volume.refresh_from_db()
        moved = assert_chain(volume, length=2)
        assert volume.pool == gluster and all(path.startswith(gluster.target_path) for path in moved), moved
        assert sees(volume, FIRST, SECOND, THIRD)
        assert not [path for path in chain if os.path.exists(path)]

        # The last point: the active file (now the bigger one) pulls its data in.
        write(volume.path, *BIG[:2], length_mib=BIG[2])
        last = volume.snapshots.get()
        bigger_on_b(host_b, gluster.libvirt_name, volume.libvirt_name, last.libvirt_name)
        op = succeeded(api.delete(f"/api/v1/snapshots/{last.pk}/"))
        assert "offline rebase in a paused helper domain" in op.message, op.message
        assert assert_chain(volume, length=1) == [volume.path]
        assert sees(volume, FIRST, SECOND, THIRD, BIG)
    finally:
        succeeded(api.delete(f"/api/v1/volumes/{volume.pk}/"))
    # host B's own view (this machine's FUSE mount of the pool may list a deleted file a while)
    assert volume.base_name not in virsh(host_b.uri, "vol-list", GLUSTER)


def test_a_stopped_instance_on_a_remote_host_merges_a_middle_snapshot_offline(
    api, admin_api, guest_on_b, host_b, pools, project_a
):
    """The same route for an instance's snapshots: three points of a guest on host B (root disk
    and a volume at once), the guest stopped, the middle point merged in helper domains."""
    uri = host_b.uri
    volume = make_volume(api, project_a, pools[SHARED], "it-remote-extsnap")
    _first, middle, _last = three_points_then_stopped(api, admin_api, guest_on_b, volume, uri)

    op = succeeded(api.delete(f"/api/v1/snapshots/{middle.pk}/"))
    assert "in a paused helper domain" in op.message, op.message
    _root_chain, volume_chain = assert_chains(guest_on_b, volume, uri)
    assert len(volume_chain) == 3
    assert all(holds(volume_chain[0], mib, pattern) for mib, pattern in (FIRST, SECOND, THIRD))
    assert not helpers_on(host_b)
