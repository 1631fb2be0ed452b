"""Copy-storage live migration on the lab: a guest whose root disk lives in `nubes-local` (a pool
only host A has) moves to host B, its disk copied by libvirt (VIR_MIGRATE_NON_SHARED_DISK, NBD)
into B's `nubes-shared` (the chosen target_pool; compute makes the file there first, same
virtual size, and points the destination definition at it). The heartbeat goes on, the
database's root disk record says where the file now is, and the source file is gone. The guest has
user data, so its cloud-init seed (a read-only cdrom libvirt does not copy) sits beside the root
disk: it is copied first and the destination definition points at the copy."""

import subprocess
import uuid
from pathlib import Path

import pytest

from compute.models import Migration
from storage.models import RootDisk
from tests.integration.conftest import booted, image_copy_in, pool_path, virsh, wait_for_heartbeat
from tests.integration.test_migration_lab import MAX_HEARTBEAT_GAP_S, HeartbeatWatch, assert_moved, migrate

pytestmark = pytest.mark.django_db(transaction=True)
LOCAL, SHARED = "nubes-local", "nubes-shared"
MOVE_BANDWIDTH_MIB_S = 50


@pytest.fixture
def local_image(lab, lab_cloud, admin_api, host_a):
    """The lab guest's image copied into host A's local pool, registered as an image there."""
    yield from image_copy_in(lab, admin_api, LOCAL, (host_a,), "it-local")


@pytest.fixture
def local_guest(admin_api, lab_cloud, host_a, host_b, project_a, local_image):
    payload = {
        "project": project_a.pk,
        "name": f"it-cs-{uuid.uuid4().hex[:6]}",
        "flavor": lab_cloud["flavor"].pk,
        "image": local_image.pk,
        "host": host_a.pk,
        "user_data": "#cloud-config\n# copy-storage seed\n",
    }

    def remove_root(instance):
        for pool in (LOCAL, SHARED):
            for host in (host_a, host_b):
                virsh(host.uri, "vol-delete", instance.root_volume, "--pool", pool)
                virsh(host.uri, "vol-delete", f"{instance.domain_name}-seed.iso", "--pool", pool)

    with booted(admin_api, payload, (host_a, host_b), remove_root) as instance:
        yield instance


def disk_source(uri, domain):
    xml = virsh(uri, "dumpxml", domain)
    return xml.split("<source file='", 1)[1].split("'", 1)[0]


def test_a_guest_on_host_a_local_storage_moves_to_b_with_its_disk(
    admin_user, admin_api, lab, local_guest, host_a, host_b
):
    source_file = disk_source(host_a.uri, local_guest.domain_name)
    assert source_file == str(pool_path(lab, LOCAL) / local_guest.root_volume)
    local_guest.refresh_from_db()
    source_seed = local_guest.seed_path
    assert source_seed == str(pool_path(lab, LOCAL) / f"{local_guest.domain_name}-seed.iso")
    refused = admin_api.post(
        "/api/v1/migrations/",
        {"instance": local_guest.pk, "target_host": host_b.pk, "live": True, "copy_storage": True},
        format="json",
    )
    assert refused.status_code == 400 and "no storage pool nubes-local" in refused.content.decode()

    watch = HeartbeatWatch(local_guest.serial_log_path)
    watch.start()
    try:
        op = migrate(
            admin_user, local_guest, host_b, bandwidth_mib_s=MOVE_BANDWIDTH_MIB_S, copy_storage=True, target_pool=SHARED
        )
        wait_for_heartbeat(local_guest.serial_log_path, after=watch.seen[-1][1] if watch.seen else None)
    finally:
        watch.stop()
    assert_moved(op, local_guest, host_a, host_b)
    target_file = str(pool_path(lab, SHARED) / local_guest.root_volume)
    assert disk_source(host_b.uri, local_guest.domain_name) == target_file
    root = RootDisk.objects.get(instance=local_guest)
    assert (root.pool, root.path, root.backing_path) == (SHARED, target_file, "")
    assert not Path(source_file).exists(), "the source copy is still on host A"
    target_seed = str(pool_path(lab, SHARED) / f"{local_guest.domain_name}-seed.iso")
    local_guest.refresh_from_db()
    assert local_guest.seed_path == target_seed
    assert target_seed in virsh(host_b.uri, "dumpxml", local_guest.domain_name)
    assert target_seed in virsh(host_b.uri, "dumpxml", "--inactive", local_guest.domain_name)
    assert Path(target_seed).read_bytes()[32769:32774] == b"CD001"  # an ISO 9660 image
    assert not Path(source_seed).exists(), "the source seed is still on host A"
    info = subprocess.run(["qemu-img", "info", "-U", target_file], capture_output=True, text=True).stdout
    assert "backing file" not in info, info
    migration = Migration.objects.get(operation=op)
    gap, before, after = watch.max_gap()
    print(
        f"\ncopy-storage A->B: {migration.total_ms} ms, downtime {migration.downtime_ms} ms, "
        f"{migration.data_transferred} B; heartbeat longest gap {gap:.2f} s ({before} -> {after})"
    )
    assert gap <= MAX_HEARTBEAT_GAP_S and watch.counters_ok(), watch.seen
