"""Network storage on the lab's storage node (lab/storage.sh), driven through the API: a LUN of
the iSCSI target (tgtd) mapped raw into a guest on host B and passed through as a SCSI device
(QEMU's own initiator: the guest sees the array's inquiry strings), and a guest whose root and
data disks live on the GlusterFS pool (netfs over FUSE on both hosts) moving live from A to B
without copying storage.

The busybox guest cannot be logged into; it reports each disk on its serial console and answers
a "NUBES-REQ <token>" written at a disk's start with "NUBES-ACK <token> <hostname>" at byte
4096, written through its own block device. The tests write the request on the array's side (the
LUN's backing file, or the GlusterFS file through host B's mount) and read the answer there."""

import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from storage.models import StoragePool, Volume
from tests.integration.conftest import booted, image_copy_in, virsh, wait_for_heartbeat
from tests.integration.test_instance_lifecycle import succeeded
from tests.integration.test_migration_lab import MAX_HEARTBEAT_GAP_S, HeartbeatWatch, assert_moved, migrate

pytestmark = pytest.mark.django_db(transaction=True)
SAN, GLUSTER, SHARED, LOCAL = "nubes-san", "nubes-gluster", "nubes-shared", "nubes-local"
DISK_TIMEOUT_S = 120
ACK_OFFSET = 4096
HOSTB = Path(__file__).resolve().parents[2] / "lab" / "hostb.sh"


@pytest.fixture
def storage(lab):
    if "storage" not in lab:
        pytest.skip("the lab has no storage node (lab.json without 'storage'): run lab/up.sh again")
    return lab["storage"]


def pool(name):
    found = StoragePool.objects.get(name=name)
    assert found.state == "active", f"{name}: {found.state} {found.state_reason}"
    return found


def console_line(instance, pattern, timeout=DISK_TIMEOUT_S, after=0):
    """The first serial-console match of `pattern` (a regex) from character `after` of the log
    on, waiting for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = Path(instance.serial_log_path).read_text(errors="replace")
        found = re.compile(pattern).search(text, after)
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"no {pattern!r} on {instance.name}'s console within {timeout}s")


def guest_hostname(instance):
    return console_line(instance, r"nubes-boot modules-loaded \S+ hostname=(\S+)")[1]


def write_request(path, token, runner=()):
    subprocess.run(
        [*runner, "dd", f"of={path}", "bs=512", "conv=notrunc,fsync", "status=none"],
        input=f"NUBES-REQ {token}\n".encode(),
        check=True,
        timeout=60,
    )


def read_answer(path, runner=()):
    out = subprocess.run(
        [*runner, "dd", f"if={path}", "bs=512", f"skip={ACK_OFFSET // 512}", "count=1", "iflag=direct", "status=none"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    return out.split(b"\n", 1)[0].decode(errors="replace")


def clear_answer(path, runner=()):
    """Zero the answer's sector (the request stays): what the guest writes next is new."""
    subprocess.run(
        [
            *runner,
            "dd",
            f"of={path}",
            "bs=512",
            f"seek={ACK_OFFSET // 512}",
            "count=1",
            "conv=notrunc,fsync",
            "status=none",
        ],
        input=b"\0" * 512,
        check=True,
        timeout=60,
    )


def disk_paths(uri, domain):
    """The sources of a domain's disks, in target order (virsh domblklist)."""
    lines = virsh(uri, "domblklist", domain).splitlines()[2:]
    return [
        line.split(None, 1)[1].strip() for line in lines if line.strip() and line.split()[0].startswith(("vd", "sd"))
    ]


def clear(path):
    with open(path, "r+b") as f:
        f.write(b"\0" * (ACK_OFFSET + 512))


def raw_volume(api, project, in_pool, name):
    """A new 1 GiB raw volume in `in_pool`, made through the API."""
    body = {"project": project.pk, "name": name, "pool": in_pool.pk, "size_gb": 1, "format": "raw"}
    op = succeeded(api.post("/api/v1/volumes/", body, format="json"))
    return Volume.objects.get(pk=op.target_id)


def lab_guest(admin_api, lab_cloud, host, hosts, project):
    payload = {
        "project": project.pk,
        "name": f"it-san-{uuid.uuid4().hex[:6]}",
        "flavor": lab_cloud["flavor"].pk,
        "image": lab_cloud["image"].pk,
        "host": host.pk,
    }
    with booted(admin_api, payload, hosts) as instance:
        yield instance


@pytest.fixture
def guest_on_b(admin_api, lab_cloud, host_a, host_b, project_a):
    yield from lab_guest(admin_api, lab_cloud, host_b, (host_a, host_b), project_a)


@pytest.fixture
def guest_on_a(admin_api, lab_cloud, host_a, host_b, project_a):
    yield from lab_guest(admin_api, lab_cloud, host_a, (host_a, host_b), project_a)


def test_a_lun_mapped_raw_is_the_arrays_scsi_device_in_a_guest_on_host_b(
    storage, admin_api, guest_on_b, project_a, lab_cloud
):
    lun = storage["iscsi"]["luns"][0]
    response = admin_api.post(
        "/api/v1/volumes/map-device/",
        {
            "project": project_a.pk,
            "name": "it-rdm",
            "pool": pool(SAN).pk,
            "device_path": f"unit:0:0:{lun['lun']}",
            "device_type": "lun",
            "size_gb": 1,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    volume = Volume.objects.get(pk=response.json()["id"])
    token = uuid.uuid4().hex[:12]
    try:
        succeeded(admin_api.post(f"/api/v1/volumes/{volume.pk}/attach/", {"instance": guest_on_b.pk}, format="json"))
        # SCSI pass-through: the inquiry strings are tgt's, not QEMU's emulated "QEMU HARDDISK".
        found = console_line(guest_on_b, r"nubes-disk (sd[a-z]) size=(\d+) vendor=(\S+) model=(\S+)")
        dev, size, vendor, model = found.groups()
        assert (vendor, model) == ("IET", "VIRTUAL-DISK")
        assert int(size) == lun["size"]
        write_request(lun["file"], token)
        console_line(guest_on_b, rf"nubes-disk-ack {dev} {token}")
        assert read_answer(lun["file"]) == f"NUBES-ACK {token} {guest_hostname(guest_on_b)}"
        succeeded(admin_api.post(f"/api/v1/volumes/{volume.pk}/detach/", {}, format="json"))
        assert "unit:0:0" not in virsh(guest_on_b.host.uri, "dumpxml", guest_on_b.domain_name)
    finally:
        clear(lun["file"])


@pytest.fixture
def gluster_image(lab, lab_cloud, admin_api, host_a, host_b):
    """The lab guest's image copied into the GlusterFS volume, registered as an image there."""
    yield from image_copy_in(lab, admin_api, GLUSTER, (host_a, host_b), "it-gluster")


def test_a_guest_on_glusterfs_writes_through_host_a_is_read_on_host_b_and_moves_live_without_copy(
    admin_api, alice, admin_user, lab_cloud, gluster_image, host_a, host_b, project_a
):
    payload = {
        "project": project_a.pk,
        "name": f"it-gl-{uuid.uuid4().hex[:6]}",
        "flavor": lab_cloud["flavor"].pk,
        "image": gluster_image.pk,
        "host": host_a.pk,
    }
    mount = StoragePool.objects.get(name=GLUSTER).target_path
    with booted(admin_api, payload, (host_a, host_b)) as instance:
        root = disk_paths(host_a.uri, instance.domain_name)[0]
        assert root.startswith(mount + "/"), root
        api = admin_api
        data = raw_volume(api, project_a, pool(GLUSTER), "it-gl-data")
        try:
            succeeded(api.post(f"/api/v1/volumes/{data.pk}/attach/", {"instance": instance.pk}, format="json"))
            dev = console_line(instance, r"nubes-disk (vd[b-z]) size=1073741824")[1]
            # Written through host B's mount, read by the guest on host A, answered through
            # host A's, read back on host B: one file system for both hosts.
            token = uuid.uuid4().hex[:12]
            write_request(data.path, token, runner=(str(HOSTB),))
            console_line(instance, rf"nubes-disk-ack {dev} {token}")
            assert read_answer(data.path, runner=(str(HOSTB),)) == f"NUBES-ACK {token} {guest_hostname(instance)}"

            watch = HeartbeatWatch(instance.serial_log_path)
            watch.start()
            try:
                wait_for_heartbeat(instance.serial_log_path)
                op = migrate(admin_user, instance, host_b)
                assert_moved(op, instance, host_a, host_b)
                last = watch.seen[-1][1]
                wait_for_heartbeat(instance.serial_log_path, after=last)
            finally:
                watch.stop()
            gap, before, after = watch.max_gap()
            assert gap < MAX_HEARTBEAT_GAP_S, f"heartbeat gap {gap:.2f}s between {before} and {after}"
            assert watch.counters_ok()
            # Nothing was copied: the same files on the network volume back the guest on B.
            assert disk_paths(host_b.uri, instance.domain_name)[:2] == [root, data.path]
            succeeded(api.post(f"/api/v1/volumes/{data.pk}/detach/", {}, format="json"))
        finally:
            data.refresh_from_db()
            if data.instance_id is None:
                api.delete(f"/api/v1/volumes/{data.pk}/")


def test_a_running_guest_s_disk_moves_live_from_a_local_pool_to_glusterfs_and_back(
    admin_api, guest_on_a, host_a, project_a
):
    local, gluster = pool(LOCAL), pool(GLUSTER)
    volume = raw_volume(admin_api, project_a, local, "it-gl-move")
    try:
        succeeded(admin_api.post(f"/api/v1/volumes/{volume.pk}/attach/", {"instance": guest_on_a.pk}, format="json"))
        dev = console_line(guest_on_a, r"nubes-disk (vd[b-z]) size=1073741824")[1]
        for target, runner in ((gluster, (str(HOSTB),)), (local, ())):
            watch = HeartbeatWatch(guest_on_a.serial_log_path)
            watch.start()
            try:
                succeeded(admin_api.post(f"/api/v1/volumes/{volume.pk}/migrate/", {"pool": target.pk}, format="json"))
            finally:
                watch.stop()
            volume.refresh_from_db()
            assert volume.pool_id == target.pk and volume.path.startswith(target.target_path + "/")
            assert disk_paths(host_a.uri, guest_on_a.domain_name)[1] == volume.path
            assert watch.counters_ok(), watch.seen
            # The guest now reads and writes the moved file: a request written where it lives
            # (through host B's mount for GlusterFS) is answered there.
            token = uuid.uuid4().hex[:12]
            write_request(volume.path, token, runner=runner)
            console_line(guest_on_a, rf"nubes-disk-ack {dev} {token}")
            assert read_answer(volume.path, runner=runner) == f"NUBES-ACK {token} {guest_hostname(guest_on_a)}"
        succeeded(admin_api.post(f"/api/v1/volumes/{volume.pk}/detach/", {}, format="json"))
    finally:
        volume.refresh_from_db()
        if volume.instance_id is None:
            admin_api.delete(f"/api/v1/volumes/{volume.pk}/")
