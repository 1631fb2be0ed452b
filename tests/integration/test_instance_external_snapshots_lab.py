"""External instance snapshots on the lab's real libvirtd and QEMU, through the API: a running
guest with a live-attached volume is snapshotted twice (both disks at once, disk-only; the lab
guest has no guest-agent channel, so 'not quiesced'), reverted while stopped (fresh overlays on
the point), started again (its heartbeat goes on), and the snapshots are deleted with merges.
After every step `qemu-img info --backing-chain -U` reports exactly the chains the database
holds, for the root disk and the volume, and the guest's disks use the database's active files."""

import time
from pathlib import Path

import pytest

from compute.models import Instance
from storage.models import RootDisk, Snapshot, SnapshotLayer, Volume
from tests.integration.conftest import domain_names, heartbeats, virsh, wait_for_heartbeat
from tests.integration.test_instance_lifecycle import succeeded
from tests.integration.test_storage_lab import (
    FIRST,
    SECOND,
    SHARED,
    THIRD,
    api,
    boot_guest,
    file_chain,
    flushed,
    guest_write,
    holds,
    make_volume,
    pools,
    remove_files,
    source_of,
    wait_for_log,
    wait_for_log_lines,
)

pytestmark = pytest.mark.django_db(transaction=True)
STATE_TIMEOUT_S = 30
__all__ = ["api", "pools"]  # fixtures used by name


def layer_backing(target_dev):
    return {layer.layer_path: layer.layer_backing for layer in SnapshotLayer.objects.filter(target_dev=target_dev)}


def db_chain(active, backing, target_dev):
    """The chain the database holds for one disk: its active file, then the frozen files."""
    layers = layer_backing(target_dev)
    chain, path = [active], backing
    while path:
        chain.append(path)
        path = layers.get(path, "")
    return chain


def assert_chains(instance, volume, uri):
    """Root disk and volume: the files' chains are the database's, and the domain uses the active files."""
    root = RootDisk.objects.get(instance=instance)
    volume.refresh_from_db()
    root_chain = db_chain(root.path, root.backing_path, "vda")
    # The root volume of a linked-clone flavor is itself backed by the image: qemu-img follows on.
    assert file_chain(root.path)[: len(root_chain)] == root_chain
    volume_chain = db_chain(volume.path, volume.backing_path, "vdb")
    assert file_chain(volume.path) == volume_chain
    assert source_of(uri, instance.domain_name, "vda", inactive=True) == root.path
    assert source_of(uri, instance.domain_name, "vdb", inactive=True) == volume.path
    return root_chain, volume_chain


@pytest.fixture
def guest(admin_api, lab_cloud, host_a, project_a):
    made = boot_guest(admin_api, lab_cloud, host_a, project_a, "it-extsnap")
    instance = next(made)
    yield instance
    files = set(SnapshotLayer.objects.values_list("layer_path", flat=True))
    files |= set(RootDisk.objects.values_list("path", flat=True))
    for _rest in made:  # the instance and its volumes' files go
        pass
    for host in lab_cloud["hosts"]:  # the API refused the delete: never leave a guest behind
        if instance.domain_name in domain_names(host.uri):
            virsh(host.uri, "destroy", instance.domain_name)
            virsh(host.uri, "undefine", instance.domain_name)
    remove_files(host_a.uri, files)


def wait_for_state(instance, state):
    """Lifecycle events land on their own thread: wait until the row says ``state``."""
    deadline = time.monotonic() + STATE_TIMEOUT_S
    while time.monotonic() < deadline:
        if Instance.objects.get(pk=instance.pk).state == state:
            return
        time.sleep(0.5)
    raise AssertionError(f"{instance.name} is {Instance.objects.get(pk=instance.pk).state}, not {state}")


def snapshot(api, instance, name):
    op = succeeded(
        api.post("/api/v1/snapshots/", {"name": name, "instance": instance.pk, "kind": "external"}, format="json")
    )
    return Snapshot.objects.get(instance=instance, name=name), op


def three_points_then_stopped(api, admin_api, guest, volume, uri):
    """``volume`` attached to the running ``guest``; a block written before each of three
    external instance snapshots (off-1..3: FIRST, SECOND, THIRD); the guest then stopped.
    Returns the three snapshots."""
    succeeded(api.post(f"/api/v1/volumes/{volume.pk}/attach/", {"instance": guest.pk}, format="json"))
    points = []
    for n, block in enumerate((FIRST, SECOND, THIRD), start=1):
        guest_write(uri, guest.domain_name, "vdb", *block)
        points.append(snapshot(api, guest, f"off-{n}")[0])
    succeeded(admin_api.post(f"/api/v1/instances/{guest.pk}/stop/", {"force": True}, format="json"))
    wait_for_state(guest, "shutoff")
    return points


def test_external_instance_snapshots_create_revert_delete(api, admin_api, guest, host_a, pools, project_a):
    uri, domain = host_a.uri, guest.domain_name
    volume = make_volume(api, project_a, pools[SHARED], "it-extsnap-data")
    succeeded(api.post(f"/api/v1/volumes/{volume.pk}/attach/", {"instance": guest.pk}, format="json"))
    wait_for_log(guest.serial_log_path, r"\[vdb\] 2097152 512-byte logical blocks")
    guest_write(uri, domain, "vdb", *FIRST)
    guest_write(uri, domain, "vda", *FIRST)

    e1, op = snapshot(api, guest, "ext-1")
    assert e1.kind == "external" and e1.current and not e1.simulated
    assert "not quiesced" in op.message and "2 disk(s)" in op.message, op.message
    root_chain, volume_chain = assert_chains(guest, volume, uri)
    assert len(volume_chain) == 2
    assert source_of(uri, domain, "vda") == root_chain[0]  # the running QEMU switched too

    guest_write(uri, domain, "vdb", *SECOND)
    guest_write(uri, domain, "vda", *SECOND)
    e2, _ = snapshot(api, guest, "ext-2")
    assert Snapshot.objects.get(pk=e2.pk).parent_id == e1.pk
    _root, volume_chain = assert_chains(guest, volume, uri)
    assert len(volume_chain) == 3
    guest_write(uri, domain, "vdb", *THIRD)

    # Revert needs the instance stopped; then every disk gets a fresh overlay on ext-1.
    refused = api.post(f"/api/v1/snapshots/{e1.pk}/revert/", format="json")
    assert refused.status_code == 409, refused.content
    succeeded(admin_api.post(f"/api/v1/instances/{guest.pk}/stop/", {"force": True}, format="json"))
    wait_for_state(guest, "shutoff")
    seen = len(heartbeats(guest.serial_log_path))
    succeeded(api.post(f"/api/v1/snapshots/{e1.pk}/revert/", format="json"))
    root_chain, volume_chain = assert_chains(guest, volume, uri)
    assert len(volume_chain) == 2 and Snapshot.objects.get(pk=e1.pk).current
    for path in (volume_chain[0], root_chain[0]):
        assert holds(path, *FIRST) and not holds(path, *SECOND)
    succeeded(admin_api.post(f"/api/v1/instances/{guest.pk}/start/", format="json"))
    wait_for_state(guest, "active")
    wait_for_log_lines(guest.serial_log_path, seen)
    beat = wait_for_heartbeat(guest.serial_log_path)
    wait_for_heartbeat(guest.serial_log_path, after=beat)
    assert source_of(uri, domain, "vda") == root_chain[0]

    # ext-2 now heads an abandoned branch with nothing on it: dropped. ext-1 merges live.
    succeeded(api.delete(f"/api/v1/snapshots/{e2.pk}/"))
    assert_chains(guest, volume, uri)
    succeeded(api.delete(f"/api/v1/snapshots/{e1.pk}/"))
    root_chain, volume_chain = assert_chains(guest, volume, uri)
    assert len(volume_chain) == 1 and not Snapshot.objects.filter(instance=guest).exists()
    assert holds(volume_chain[0], *FIRST) and holds(root_chain[0], *FIRST)
    beat = wait_for_heartbeat(guest.serial_log_path)
    wait_for_heartbeat(guest.serial_log_path, after=beat)
    assert Instance.objects.get(pk=guest.pk).state == "active"
    assert Volume.objects.get(pk=volume.pk).state == "in-use"


def test_a_stopped_instance_merges_offline_and_its_delete_removes_the_whole_chain(
    api, admin_api, guest, host_a, pools, project_a
):
    uri = host_a.uri
    volume = make_volume(api, project_a, pools[SHARED], "it-extsnap-off")
    e1, e2, _e3 = three_points_then_stopped(api, admin_api, guest, volume, uri)

    # The middle point goes with qemu-img on the host; the data every later point sees stays.
    op = succeeded(api.delete(f"/api/v1/snapshots/{e2.pk}/"))
    assert "offline qemu-img" in op.message, op.message
    root_chain, volume_chain = assert_chains(guest, volume, uri)
    assert len(volume_chain) == 3 and Snapshot.objects.get(name="off-3").parent_id == e1.pk
    for mib, pattern in (FIRST, SECOND, THIRD):
        assert holds(volume_chain[0], mib, pattern)

    # Deleting the instance removes every file of the root chain; the volume keeps its points.
    root_files = [root_chain[0]] + list(
        SnapshotLayer.objects.filter(target_dev="vda").values_list("layer_path", flat=True)
    )
    succeeded(admin_api.delete(f"/api/v1/instances/{guest.pk}/"))
    virsh(uri, "pool-refresh", SHARED)
    assert not [path for path in root_files if Path(path).exists()]
    volume.refresh_from_db()
    assert volume.instance_id is None and Snapshot.objects.filter(volume=volume).count() == 2
    assert file_chain(volume.path) == [volume.path] + [
        s.layer_path for s in Snapshot.objects.filter(volume=volume).order_by("-created", "-id")
    ]


def test_the_chain_follows_a_live_migration_over_the_shared_pool_and_merges_on_host_b(
    api, admin_user, guest, host_a, host_b
):
    from tests.integration.test_migration_lab import assert_moved, migrate

    domain = guest.domain_name
    guest_write(host_a.uri, domain, "vda", *FIRST)
    e1, _ = snapshot(api, guest, "mig-1")
    guest_write(host_a.uri, domain, "vda", *SECOND)
    op = migrate(admin_user, guest, host_b)
    assert_moved(op, guest, host_a, host_b)
    root = RootDisk.objects.get(instance=guest)
    assert source_of(host_b.uri, domain, "vda") == root.path
    assert file_chain(root.path)[:2] == [root.path, e1.layers.get(target_dev="vda").layer_path]
    beat = wait_for_heartbeat(guest.serial_log_path)

    # The merge runs as a block job on host B, which sees the files made on host A after a refresh.
    succeeded(api.delete(f"/api/v1/snapshots/{e1.pk}/"))
    root.refresh_from_db()
    assert source_of(host_b.uri, domain, "vda") == root.path
    assert file_chain(root.path)[: len(db_chain(root.path, root.backing_path, "vda"))] == db_chain(
        root.path, root.backing_path, "vda"
    )
    flushed(host_b.uri, domain, "vda")  # QEMU caches the qcow2 metadata the job wrote
    assert holds(root.path, *FIRST) and holds(root.path, *SECOND)
    wait_for_heartbeat(guest.serial_log_path, after=beat)
