"""More storage on the lab's real libvirtd: a detached volume's snapshots merged offline with
qemu-img (rebase and commit, each where it copies less), its whole chain moved to another pool
layer by layer, and the newest point of a running disk merged by an active blockCommit +
pivot - `qemu-img info --backing-chain` matching the database after each step."""

import subprocess
from pathlib import Path

import pytest

from portal.models import Operation
from storage.models import Snapshot, Volume
from tests.integration.test_instance_lifecycle import succeeded
from tests.integration.test_storage_lab import (  # noqa: F401 - fixtures
    LOCAL,
    SHARED,
    TOOL_TIMEOUT_S,
    api,
    assert_chain,
    flushed,
    guest,
    guest_write,
    holds,
    make_volume,
    pools,
    remove_files,
    snapshot,
    source_of,
)

pytestmark = pytest.mark.django_db(transaction=True)
BASE_DATA = (0, 0x11, 8)  # offset MiB, pattern, length MiB
SECOND = (8, 0x22, 1)
THIRD = (9, 0x33, 3)


def file_write(path, mib, pattern, length_mib):
    """Write into a detached volume's active file, as a guest would have."""
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", f"write -P {pattern:#x} {mib}M {length_mib}M", path],
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_S,
        check=True,
    )


def holds_all(path, *blocks):
    return all(holds(path, mib + n, pattern) for mib, pattern, length in blocks for n in range(length))


@pytest.fixture
def our_files(lab_cloud):
    yield
    paths = set(Volume.objects.values_list("path", flat=True))
    paths |= set(Snapshot.objects.filter(kind="external").values_list("layer_path", flat=True))
    remove_files(lab_cloud["hosts"][0].uri, paths)


def test_a_detached_volume_merges_offline_and_moves_with_its_whole_chain(api, pools, project_a, our_files):
    volume = make_volume(api, project_a, pools[SHARED], "it-more-offline")
    base = volume.path
    file_write(base, *BASE_DATA)
    s1 = snapshot(api, volume, "s1")
    volume.refresh_from_db()
    file_write(volume.path, *SECOND)
    s2 = snapshot(api, volume, "s2")
    volume.refresh_from_db()
    file_write(volume.path, *THIRD)
    assert_chain(volume, length=3)

    # s2's file (1 MiB) under an active layer holding more (3 MiB): the active layer pulls it in.
    op = succeeded(api.delete(f"/api/v1/snapshots/{s2.pk}/"))
    assert "offline qemu-img rebase" in op.message, op.message
    assert assert_chain(volume, length=2)[1] == base and not Path(s2.layer_path).exists()
    assert holds_all(volume.path, BASE_DATA, SECOND, THIRD)

    # s1's file (8 MiB) under a smaller active layer (4 MiB): commit down, the volume takes s1's file.
    active = volume.path
    op = succeeded(api.delete(f"/api/v1/snapshots/{s1.pk}/"))
    assert "offline qemu-img commit" in op.message, op.message
    assert assert_chain(volume, length=1) == [base] and not Path(active).exists()
    assert holds_all(base, BASE_DATA, SECOND, THIRD)

    # A new point, then the whole chain moves to the local pool, layer by layer.
    s3 = snapshot(api, volume, "s3")
    volume.refresh_from_db()
    file_write(volume.path, 16, 0x44, 1)
    old = assert_chain(volume, length=2)
    op = succeeded(api.post(f"/api/v1/volumes/{volume.pk}/migrate/", {"pool": pools[LOCAL].pk}, format="json"))
    assert op.message.startswith(f"Moved 2 layers to pool {LOCAL}"), op.message
    volume.refresh_from_db()
    chain = assert_chain(volume, length=2)
    assert all(path.startswith("/var/lib/nubes-lab/local-a/") for path in chain)
    assert not any(Path(path).exists() for path in old)
    s3.refresh_from_db()
    assert s3.layer_path == chain[1] and s3.current
    assert holds_all(volume.path, BASE_DATA, SECOND, THIRD, (16, 0x44, 1))
    assert not holds(chain[1], 16, 0x44)  # the frozen point stayed frozen

    succeeded(api.delete(f"/api/v1/snapshots/{s3.pk}/"))
    assert_chain(volume, length=1)
    succeeded(api.delete(f"/api/v1/volumes/{volume.pk}/"))
    assert not Path(volume.path).exists()


def test_the_newest_point_of_a_running_disk_merges_by_active_commit_and_pivot(api, guest, host_a, pools, project_a):
    uri, domain = host_a.uri, guest.domain_name
    volume = make_volume(api, project_a, pools[SHARED], "it-more-active")
    succeeded(api.post(f"/api/v1/volumes/{volume.pk}/attach/", {"instance": guest.pk}, format="json"))
    base = volume.path
    guest_write(uri, domain, "vdb", 0, 0x11, length_mib=8)
    s1 = snapshot(api, volume, "s1")
    volume.refresh_from_db()
    top = volume.path
    guest_write(uri, domain, "vdb", 8, 0x22)
    assert_chain(volume, length=2)

    op = succeeded(api.delete(f"/api/v1/snapshots/{s1.pk}/"))
    assert "active blockCommit + pivot" in op.message, op.message
    volume.refresh_from_db()
    assert volume.path == base and assert_chain(volume, length=1) == [base] and not Path(top).exists()
    assert source_of(uri, domain, "vdb") == base == source_of(uri, domain, "vdb", inactive=True)
    flushed(uri, domain)
    assert holds(base, 0, 0x11) and holds(base, 7, 0x11) and holds(base, 8, 0x22)
    assert Operation.objects.get(pk=op.pk).progress == 100

    succeeded(api.post(f"/api/v1/volumes/{volume.pk}/detach/"))
    succeeded(api.delete(f"/api/v1/volumes/{volume.pk}/"))


def test_a_volume_uploads_and_downloads_through_the_real_libvirtd(api, pools, project_a, our_files, tmp_path, settings):
    settings.DATA_DIR = tmp_path
    source = make_volume(api, project_a, pools[SHARED], "it-more-src")
    file_write(source.path, 0, 0x5A, 2)
    body = Path(source.path).read_bytes()
    target = make_volume(api, project_a, pools[SHARED], "it-more-up")
    with_progress = succeeded(
        api.put(f"/api/v1/volumes/{target.pk}/upload/", data=body, content_type="application/octet-stream")
    )
    assert with_progress.progress == 100 and "(simulated)" not in with_progress.message, with_progress.message
    target.refresh_from_db()
    assert holds(target.path, 0, 0x5A) and holds(target.path, 1, 0x5A) and assert_chain(target, length=1)

    response = api.get(f"/api/v1/volumes/{target.pk}/download/")
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    assert data == Path(target.path).read_bytes() and len(data) == int(response["Content-Length"])
    assert Operation.objects.get(pk=response["X-Operation"]).status == "succeeded"
    for volume in (source, target):
        succeeded(api.delete(f"/api/v1/volumes/{volume.pk}/"))
