"""A running guest's disk with external snapshots moves live to another pool with its chain, on
the lab's real libvirtd and QEMU: the frozen layers are copied first, the active layer is
mirrored shallow onto them and the guest pivots while its heartbeat goes on. Afterwards
`qemu-img info --backing-chain` equals the database, every layer holds what it held, and the
snapshots still merge away live and revert; stopped, the chain moves back offline."""

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest

import hypervisor as hv
from portal.models import Operation
from tests.integration.conftest import virsh, wait_for_heartbeat
from tests.integration.test_instance_lifecycle import succeeded
from tests.integration.test_storage_lab import (  # noqa: F401 - pools and api are fixtures
    BEAT_S,
    FIRST,
    LOCAL,
    SECOND,
    SHARED,
    THIRD,
    TOOL_TIMEOUT_S,
    BeatWatch,
    api,
    assert_chain,
    boot_guest,
    flushed,
    guest_write,
    holds,
    make_volume,
    pools,
    snapshot,
    source_of,
)

pytestmark = pytest.mark.django_db(transaction=True)
ACTIVE_DATA_MIB = 128  # written into the active layer before the move: the mirror has work to do
FOURTH = (3, 0x44)  # written after the move, into the new active layer
LOCAL_DIR = "/var/lib/nubes-lab/local-a/"
SHARED_DIR = "/var/lib/nubes-lab/shared/"


def allocated_in(path, mib):
    """Bytes of the MiB at `mib` that the file itself holds (not its backing files)."""
    out = subprocess.run(
        ["qemu-io", "-U", "-r", "-f", "qcow2", "-c", f"alloc {mib}M 1M", path],
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_S,
        check=True,
    ).stdout
    return int(out.split("/")[0])


def cancelled_move(api, volume, pool):
    """Ask for the move and cancel it at the mirror's first progress report, before it is ready."""
    real_job = hv.block_job

    def job_then_cancel(uri, uuid, dev):
        job = real_job(uri, uuid, dev)
        if job is not None and job.kind == hv.blockjobs.COPY:
            Operation.objects.filter(kind="volume.migrate", target_id=str(volume.pk)).update(cancel_requested=True)
            return dataclasses.replace(job, ready=False)  # even a quick mirror is cancelled, not pivoted
        return job

    hv.block_job = job_then_cancel
    try:
        response = api.post(f"/api/v1/volumes/{volume.pk}/migrate/", {"pool": pool.pk}, format="json")
    finally:
        hv.block_job = real_job
    assert response.status_code == 202, response.content
    return Operation.objects.get(pk=response.json()["id"])


@pytest.fixture
def guest(admin_api, lab_cloud, host_a, project_a):
    yield from boot_guest(admin_api, lab_cloud, host_a, project_a, "it-chain-move")


def test_a_live_move_keeps_the_external_snapshot_chain(api, admin_api, guest, host_a, pools, project_a):
    uri, domain, log = host_a.uri, guest.domain_name, guest.serial_log_path
    volume = make_volume(api, project_a, pools[SHARED], "it-chain-move")
    succeeded(api.post(f"/api/v1/volumes/{volume.pk}/attach/", {"instance": guest.pk}, format="json"))
    guest_write(uri, domain, "vdb", *FIRST)
    s1 = snapshot(api, volume, "s1")
    guest_write(uri, domain, "vdb", *SECOND)
    s2 = snapshot(api, volume, "s2")
    guest_write(uri, domain, "vdb", *THIRD)
    guest_write(uri, domain, "vdb", 8, 0x55, length_mib=ACTIVE_DATA_MIB)
    old_chain = assert_chain(volume, length=3)

    # A cancel while the mirror runs: the real job is aborted and the copies go; the guest,
    # the domain and the database stay on the old chain.
    op = cancelled_move(api, volume, pools[LOCAL])
    assert op.status == "cancelled", (op.status, op.message)
    volume.refresh_from_db()
    assert volume.pool.name == SHARED and volume.state == "in-use"
    assert assert_chain(volume, length=3) == old_chain
    assert source_of(uri, domain, "vdb") == volume.path == source_of(uri, domain, "vdb", inactive=True)
    assert "No current block job" in virsh(uri, "blockjob", domain, "vdb", "--info")
    assert not [name for name in os.listdir(LOCAL_DIR) if volume.base_name in name]

    before = wait_for_heartbeat(log)
    with BeatWatch(log) as watch:
        op = succeeded(api.post(f"/api/v1/volumes/{volume.pk}/migrate/", {"pool": pools[LOCAL].pk}, format="json"))
    assert watch.seen == sorted(watch.seen) and watch.seen[-1] >= before, watch.seen
    if watch.took > 2 * BEAT_S:
        assert watch.seen[-1] > watch.seen[0], watch.seen
    assert op.progress == 100 and op.message.startswith(f"Moved 3 layers to pool {LOCAL}"), op.message
    assert "shallow blockCopy" in op.message, op.message

    # The database, QEMU's tools and the domain agree on the new chain; the old files are gone.
    volume.refresh_from_db()
    s1.refresh_from_db()
    s2.refresh_from_db()
    chain = assert_chain(volume, length=3)
    assert volume.pool.name == LOCAL and all(path.startswith(LOCAL_DIR) for path in chain), chain
    assert chain == [volume.path, s2.layer_path, s1.layer_path]
    assert source_of(uri, domain, "vdb") == volume.path == source_of(uri, domain, "vdb", inactive=True)
    assert not any(Path(path).exists() for path in old_chain)
    # Each layer holds what it held: s1 the first block only, s2 also the second, the disk all.
    flushed(uri, domain)
    assert holds(s1.layer_path, *FIRST) and not holds(s1.layer_path, *SECOND)
    assert holds(s2.layer_path, *SECOND) and not holds(s2.layer_path, *THIRD)
    assert all(holds(volume.path, *block) for block in (FIRST, SECOND, THIRD))
    assert holds(volume.path, 8 + ACTIVE_DATA_MIB - 1, 0x55)
    # Shallow: the new active file holds only what the old one held, not its backing files' data.
    assert allocated_in(volume.path, FIRST[0]) == 0 and allocated_in(volume.path, SECOND[0]) == 0
    assert allocated_in(volume.path, THIRD[0]) > 0
    guest_write(uri, domain, "vdb", *FOURTH)
    assert holds(volume.path, *FOURTH)
    assert wait_for_heartbeat(log, after=watch.seen[-1]) > watch.seen[-1]
    assert virsh(uri, "domstate", domain).strip() == "running"

    # The moved snapshots still work: s2 merges away live, then the disk reverts to s1.
    succeeded(api.delete(f"/api/v1/snapshots/{s2.pk}/"))
    chain = assert_chain(volume, length=2)
    assert chain[1] == s1.layer_path and all(path.startswith(LOCAL_DIR) for path in chain)
    flushed(uri, domain)
    assert all(holds(volume.path, *block) for block in (FIRST, SECOND, THIRD, FOURTH))
    succeeded(admin_api.post(f"/api/v1/instances/{guest.pk}/stop/", {"force": True}, format="json"))
    succeeded(api.post(f"/api/v1/snapshots/{s1.pk}/revert/"))
    chain = assert_chain(volume, length=2)
    assert chain[1] == s1.layer_path and source_of(uri, domain, "vdb", inactive=True) == volume.path
    assert holds(volume.path, *FIRST) and not holds(volume.path, *SECOND)

    # Stopped, the chain moves back offline by the same layer copy (no mirror).
    op = succeeded(api.post(f"/api/v1/volumes/{volume.pk}/migrate/", {"pool": pools[SHARED].pk}, format="json"))
    assert op.message == f"Moved 2 layers to pool {SHARED}", op.message
    volume.refresh_from_db()
    s1.refresh_from_db()
    moved = assert_chain(volume, length=2)
    assert moved == [volume.path, s1.layer_path] and all(path.startswith(SHARED_DIR) for path in moved)
    assert source_of(uri, domain, "vdb", inactive=True) == volume.path
    assert not any(Path(path).exists() for path in chain)
    assert holds(volume.path, *FIRST) and not holds(volume.path, *SECOND)
    chain = moved

    succeeded(api.post(f"/api/v1/volumes/{volume.pk}/detach/"))
    succeeded(api.delete(f"/api/v1/volumes/{volume.pk}/"))
    assert not any(Path(path).exists() for path in chain)
