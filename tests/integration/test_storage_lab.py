"""Storage on the lab's real libvirtd and QEMU, driven through the API as a tenant would: a thin
volume attached live to a running guest and written through, internal and external snapshots,
revert, a middle snapshot committed away, linked clones of a template, space reclamation
without a guest agent, and a live move to another pool while the guest keeps beating. After
each step `qemu-img info --backing-chain` must report exactly the chain the database holds.

The busybox guest cannot be logged into, so data is written through the guest's own disk
device from QEMU's side (HMP `qemu-io` on the virtio device), and read back from the files
with `qemu-io -U` on the host."""

import json
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from compute.models import Instance
from portal.models import Operation
from storage.models import Snapshot, StoragePool, Volume
from tests.conftest import client_for
from tests.integration.conftest import heartbeats, virsh, wait_for_heartbeat
from tests.integration.test_instance_lifecycle import succeeded

pytestmark = pytest.mark.django_db(transaction=True)
MIB = 1 << 20
SHARED, LOCAL = "nubes-shared", "nubes-local"
HOTPLUG_TIMEOUT_S = 30
TOOL_TIMEOUT_S = 120
# Blocks the tests write: (offset MiB, pattern byte).
FIRST, SECOND, THIRD = (0, 0x11), (1, 0x22), (2, 0x33)
MOVE_DATA_MIB = 256  # written before the live move, so the mirror has something to copy
BEAT_S = 1  # the guest prints a heartbeat every second


# --- helpers -------------------------------------------------------------------------------


def run(*args):
    return subprocess.run(args, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=True).stdout


def file_chain(path):
    """The chain as QEMU's tools see it: [active file, its backing file, ...]."""
    layers = json.loads(run("qemu-img", "info", "--backing-chain", "-U", "--output=json", path))
    return [layer["filename"] for layer in layers]


def db_chain(volume):
    """The chain the database holds for a volume: its active file, then backing files."""
    volume.refresh_from_db()
    backing = {snap.layer_path: snap.layer_backing for snap in Snapshot.objects.filter(kind="external")}
    backing.update({vol.path: vol.backing_path for vol in Volume.objects.all()})
    chain, path = [], volume.path
    while path:
        chain.append(path)
        path = backing.get(path, "")
    return chain


def assert_chain(volume, length=None):
    expected = db_chain(volume)
    assert file_chain(volume.path) == expected
    if length is not None:
        assert len(expected) == length, expected
    return expected


def failed(response):
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "failed", f"{op.kind} was expected to fail: {op.message}"
    return op


def disk_backend(uri, domain, target_dev):
    """The QOM path of the guest's virtio-blk device behind a disk (its block backend)."""
    xml = virsh(uri, "dumpxml", domain)
    disk = next(d for d in re.findall(r"<disk .*?</disk>", xml, re.S) if f"dev='{target_dev}'" in d)
    alias = re.search(r"<alias name='([^']+)'", disk).group(1)
    return f"/machine/peripheral/{alias}/virtio-backend"


def qemu_io(uri, domain, target_dev, command):
    device = disk_backend(uri, domain, target_dev)
    out = run("virsh", "-c", uri, "qemu-monitor-command", domain, "--hmp", f'qemu-io -d {device} "{command}"')
    assert "error" not in out.lower() and "fail" not in out.lower() and "conflict" not in out.lower(), out


def guest_write(uri, domain, target_dev, mib, pattern, length_mib=1):
    """Write through the guest's own virtio-blk backend inside QEMU (what the guest's writes
    go through), then flush it to the file."""
    qemu_io(uri, domain, target_dev, f"write -P {pattern:#x} {mib}M {length_mib}M")
    qemu_io(uri, domain, target_dev, "flush")


def flushed(uri, domain, target_dev="vdb"):
    """QEMU keeps qcow2 metadata a block job wrote in its cache: flush before reading files."""
    qemu_io(uri, domain, target_dev, "flush")


def holds(path, mib, pattern):
    """True when the guest-visible data at `mib` (through the chain under `path`) is `pattern`."""
    result = subprocess.run(
        ["qemu-io", "-U", "-r", "-f", "qcow2", "-c", f"read -P {pattern:#x} {mib}M 1M", path],
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_S,
    )
    return result.returncode == 0 and "Pattern verification failed" not in result.stdout + result.stderr


def source_of(uri, domain, target_dev, inactive=False):
    out = virsh(uri, "domblklist", domain, *(["--inactive"] if inactive else []))
    for line in out.splitlines():
        fields = line.split()
        if fields and fields[0] == target_dev:
            return fields[1]
    return None


def wait_for_log(path, pattern, timeout=HOTPLUG_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, Path(path).read_text(errors="replace"))
        if match:
            return match.group(0)
        time.sleep(0.5)
    raise AssertionError(f"{pattern!r} not in {path} within {timeout}s")


def wait_for_log_lines(path, seen, timeout=HOTPLUG_TIMEOUT_S * 3):
    """A rebooted guest counts from 1 again: wait for more heartbeat lines than `seen`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(heartbeats(path)) > seen:
            return
        time.sleep(0.5)
    raise AssertionError(f"no new heartbeat in {path} within {timeout}s")


class BeatWatch(threading.Thread):
    """Samples the guest's newest heartbeat counter while a call runs."""

    def __init__(self, log):
        super().__init__(daemon=True)
        self.log, self.seen, self.took = log, [], 0.0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            beats = heartbeats(self.log)
            if beats:
                self.seen.append(beats[-1])
            time.sleep(BEAT_S / 4)

    def __enter__(self):
        self.started = time.monotonic()
        self.start()
        return self

    def __exit__(self, *exc):
        self.took = time.monotonic() - self.started
        self.done.set()
        self.join()


def remove_files(uri, paths):
    """Teardown: whatever files of ours are still in the pools go, whatever happened."""
    for pool in (SHARED, LOCAL):
        virsh(uri, "pool-refresh", pool)  # files host B made are unknown here until then
    for path in paths:
        if path and Path(path).exists():
            virsh(uri, "vol-delete", path)
    for pool in (SHARED, LOCAL):
        virsh(uri, "pool-refresh", pool)


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def pools(lab_cloud):
    return {pool.name: pool for pool in StoragePool.objects.filter(name__in=(SHARED, LOCAL))}


def boot_guest(admin_api, lab_cloud, host, project, name):
    """A running lab guest on `host`; afterwards it and every file of ours in the pools go."""
    payload = {
        "project": project.pk,
        "name": name,
        "flavor": lab_cloud["flavor"].pk,
        "image": lab_cloud["image"].pk,
        "host": host.pk,
    }
    op = succeeded(admin_api.post("/api/v1/instances/", payload, format="json"))
    instance = Instance.objects.get(pk=op.target_id)
    wait_for_heartbeat(instance.serial_log_path)
    yield instance
    paths = set(Volume.objects.values_list("path", flat=True))
    paths |= set(Snapshot.objects.filter(kind="external").values_list("layer_path", flat=True))
    admin_api.delete(f"/api/v1/instances/{instance.pk}/")
    remove_files(lab_cloud["hosts"][0].uri, paths)


@pytest.fixture
def guest(admin_api, lab_cloud, host_a, project_a):
    yield from boot_guest(admin_api, lab_cloud, host_a, project_a, "it-storage")


@pytest.fixture
def guest_on_b(admin_api, lab_cloud, host_b, project_a):
    yield from boot_guest(admin_api, lab_cloud, host_b, project_a, "it-storage-b")


@pytest.fixture
def api(alice):
    return client_for(alice)


def make_volume(api, project, pool, name, size_gb=1):
    op = succeeded(
        api.post(
            "/api/v1/volumes/",
            {"project": project.pk, "name": name, "pool": pool.pk, "size_gb": size_gb},
            format="json",
        )
    )
    return Volume.objects.get(pk=op.target_id)


# --- the tests -----------------------------------------------------------------------------


def test_a_thin_volume_attaches_live_takes_writes_and_internal_snapshots(api, guest, host_a, pools, project_a):
    uri, domain = host_a.uri, guest.domain_name
    volume = make_volume(api, project_a, pools[SHARED], "it-data")
    assert volume.path.startswith("/var/lib/nubes-lab/shared/") and volume.provisioning == "thin"
    assert_chain(volume, length=1)
    info = json.loads(run("qemu-img", "info", "-U", "--output=json", volume.path))
    assert info["format"] == "qcow2" and info["virtual-size"] == 1 << 30 and info["actual-size"] < 16 * MIB

    succeeded(api.post(f"/api/v1/volumes/{volume.pk}/attach/", {"instance": guest.pk}, format="json"))
    volume.refresh_from_db()
    assert volume.state == "in-use" and volume.target_dev == "vdb"
    assert source_of(uri, domain, "vdb") == volume.path
    assert source_of(uri, domain, "vdb", inactive=True) == volume.path
    # The guest's kernel saw the hotplugged disk (printed on its serial console).
    wait_for_log(guest.serial_log_path, r"\[vdb\] 2097152 512-byte logical blocks")

    guest_write(uri, domain, "vdb", *FIRST)
    assert holds(volume.path, *FIRST)
    # The guest's kernel read the new disk (its partition table) through the same device.
    stats = virsh(uri, "domblkstat", domain, "vdb")
    assert int(re.search(r"rd_req (\d+)", stats).group(1)) > 0, stats

    # Internal snapshot with memory: the guest keeps running; a revert brings back the data.
    op = succeeded(api.post("/api/v1/snapshots/", {"name": "int-1", "instance": guest.pk}, format="json"))
    internal = Snapshot.objects.get(instance=guest, name="int-1")
    assert internal.kind == "internal" and internal.with_memory and internal.current, op.message
    assert internal.libvirt_name in virsh(uri, "snapshot-list", domain, "--name")
    beat = wait_for_heartbeat(guest.serial_log_path)
    guest_write(uri, domain, "vdb", FIRST[0], 0x99)
    assert not holds(volume.path, *FIRST)
    succeeded(api.post(f"/api/v1/snapshots/{internal.pk}/revert/", format="json"))
    assert virsh(uri, "domstate", domain).strip() == "running"
    assert holds(volume.path, *FIRST)
    wait_for_heartbeat(guest.serial_log_path, after=beat)
    succeeded(api.delete(f"/api/v1/snapshots/{internal.pk}/"))
    assert internal.libvirt_name not in virsh(uri, "snapshot-list", domain, "--name")
    assert_chain(volume, length=1)


def snapshot(api, volume, name):
    succeeded(api.post(f"/api/v1/volumes/{volume.pk}/snapshot/", {"name": name}, format="json"))
    return Snapshot.objects.get(volume=volume, name=name)


def test_external_snapshots_commit_revert_and_a_live_move_keep_the_chain_true(
    api, admin_api, guest, host_a, pools, project_a
):
    uri, domain, log = host_a.uri, guest.domain_name, guest.serial_log_path
    volume = make_volume(api, project_a, pools[SHARED], "it-chain")
    succeeded(api.post(f"/api/v1/volumes/{volume.pk}/attach/", {"instance": guest.pk}, format="json"))
    base = volume.path
    guest_write(uri, domain, "vdb", *FIRST)

    # Three external snapshots of the running disk, a write between each.
    s1 = snapshot(api, volume, "s1")
    assert assert_chain(volume, length=2)[1] == base == s1.layer_path
    guest_write(uri, domain, "vdb", *SECOND)
    s2 = snapshot(api, volume, "s2")
    guest_write(uri, domain, "vdb", *THIRD)
    s3 = snapshot(api, volume, "s3")
    chain = assert_chain(volume, length=4)
    assert source_of(uri, domain, "vdb") == volume.path == chain[0]
    assert source_of(uri, domain, "vdb", inactive=True) == volume.path
    assert [s.layer_path for s in (s3, s2, s1)] == chain[1:]
    assert all(holds(volume.path, *block) for block in (FIRST, SECOND, THIRD))
    s2.refresh_from_db()
    assert s2.parent_id == s1.pk and not s2.current

    # Delete the middle one: its child's data is committed down into its file, live.
    middle = s2.layer_path
    succeeded(api.delete(f"/api/v1/snapshots/{s2.pk}/"))
    assert not Snapshot.objects.filter(pk=s2.pk).exists()
    chain = assert_chain(volume, length=3)
    flushed(uri, domain)
    assert middle in chain and not Path(chain[0]).samefile(middle)
    s3.refresh_from_db()
    assert s3.layer_path == middle and s3.parent_id == s1.pk and s3.current
    assert holds(s3.layer_path, *THIRD) and holds(s3.layer_path, *SECOND)
    assert all(holds(volume.path, *block) for block in (FIRST, SECOND, THIRD))

    # Revert to s1 (libvirt 9.0 cannot revert external snapshots: the portal puts a fresh
    # overlay on s1's file). A running disk is not swapped under the guest: stop first.
    assert api.post(f"/api/v1/snapshots/{s1.pk}/revert/").status_code == 409
    succeeded(admin_api.post(f"/api/v1/instances/{guest.pk}/stop/", {"force": True}, format="json"))
    succeeded(api.post(f"/api/v1/snapshots/{s1.pk}/revert/"))
    chain = assert_chain(volume, length=2)
    assert chain[1] == base and source_of(uri, domain, "vdb", inactive=True) == volume.path
    assert holds(volume.path, *FIRST) and not holds(volume.path, *SECOND) and not holds(volume.path, *THIRD)
    lines = len(heartbeats(log))
    succeeded(admin_api.post(f"/api/v1/instances/{guest.pk}/start/", {}, format="json"))
    wait_for_log_lines(log, lines)
    assert source_of(uri, domain, "vdb") == volume.path

    # Delete what is left: s3 (an abandoned branch, nothing built on it), then s1 under the
    # active layer (a live blockPull of the base into the active file, or an active commit +
    # pivot onto the base when the active layer holds less: whichever copies less).
    succeeded(api.delete(f"/api/v1/snapshots/{s3.pk}/"))
    assert not Path(middle).exists()
    active = volume.path
    succeeded(api.delete(f"/api/v1/snapshots/{s1.pk}/"))
    assert assert_chain(volume, length=1) == [volume.path]
    assert not Path(base if volume.path == active else active).exists()
    assert source_of(uri, domain, "vdb") == volume.path == source_of(uri, domain, "vdb", inactive=True)
    flushed(uri, domain)
    assert holds(volume.path, *FIRST)

    # Live move to the host's local pool while the guest keeps beating.
    guest_write(uri, domain, "vdb", 8, 0x55, length_mib=MOVE_DATA_MIB)
    before = wait_for_heartbeat(log)
    old = volume.path
    with BeatWatch(log) as watch:
        op = succeeded(api.post(f"/api/v1/volumes/{volume.pk}/migrate/", {"pool": pools[LOCAL].pk}, format="json"))
    # The guest was never paused for long: its counter kept rising while the mirror ran.
    assert watch.seen == sorted(watch.seen) and watch.seen[-1] >= before, watch.seen
    if watch.took > 2 * BEAT_S:
        assert watch.seen[-1] > watch.seen[0], watch.seen
    assert op.progress == 100 and op.message.startswith(f"Moved to pool {LOCAL}"), op.message
    volume.refresh_from_db()
    assert volume.pool.name == LOCAL and volume.path.startswith("/var/lib/nubes-lab/local-a/"), op.message
    assert source_of(uri, domain, "vdb") == volume.path == source_of(uri, domain, "vdb", inactive=True)
    assert assert_chain(volume, length=1) == [volume.path] and not Path(old).exists()
    flushed(uri, domain)
    assert holds(volume.path, *FIRST) and holds(volume.path, 8 + MOVE_DATA_MIB - 1, 0x55)
    assert wait_for_heartbeat(log, after=before) > before
    assert virsh(uri, "domstate", domain).strip() == "running"

    succeeded(api.post(f"/api/v1/volumes/{volume.pk}/detach/"))
    assert source_of(uri, domain, "vdb") is None
    succeeded(api.delete(f"/api/v1/volumes/{volume.pk}/"))
    assert not Path(volume.path).exists()


def test_linked_clones_of_a_template_flatten_and_reclaim_explains_the_missing_agent(
    api, guest, host_a, pools, project_a
):
    uri, domain = host_a.uri, guest.domain_name
    template = make_volume(api, project_a, pools[SHARED], "it-golden")
    succeeded(api.post(f"/api/v1/volumes/{template.pk}/attach/", {"instance": guest.pk}, format="json"))
    guest_write(uri, domain, "vdb", *FIRST)
    succeeded(api.post(f"/api/v1/volumes/{template.pk}/detach/"))
    assert api.patch(f"/api/v1/volumes/{template.pk}/", {"is_template": True}, format="json").status_code == 200

    clones = []
    for index in range(3):
        op = succeeded(
            api.post(
                f"/api/v1/volumes/{template.pk}/clone/", {"name": f"it-clone-{index}", "mode": "linked"}, format="json"
            )
        )
        clone = Volume.objects.get(pk=op.target_id)
        assert clone.backing_volume_id == template.pk
        assert assert_chain(clone, length=2) == [clone.path, template.path]
        assert holds(clone.path, *FIRST)
        # An overlay holds only its own clusters: a few hundred KiB, not the template's data.
        assert json.loads(run("qemu-img", "info", "-U", "--output=json", clone.path))["actual-size"] < MIB
        clones.append(clone)
    assert api.delete(f"/api/v1/volumes/{template.pk}/").status_code == 409

    first = clones[0]
    succeeded(api.post(f"/api/v1/volumes/{first.pk}/attach/", {"instance": guest.pk}, format="json"))
    guest_write(uri, domain, "vdb", *SECOND)
    assert holds(first.path, *SECOND) and holds(first.path, *FIRST)
    assert not holds(template.path, *SECOND) and not holds(clones[1].path, *SECOND)

    # Reclaim: discards pass through (discard='unmap'), but fstrim needs the guest agent,
    # which the busybox guest does not run: the Operation says so and nothing changes.
    assert "discard='unmap'" in virsh(uri, "dumpxml", domain)
    op = failed(api.post(f"/api/v1/volumes/{first.pk}/reclaim/"))
    assert "No space reclaimed" in op.message and "guest agent" in op.message, op.message
    first.refresh_from_db()
    assert first.state == "in-use"

    # Flatten the attached clone live (blockPull): it no longer needs the template.
    succeeded(api.post(f"/api/v1/volumes/{first.pk}/flatten/"))
    first.refresh_from_db()
    assert first.backing_volume_id is None and assert_chain(first, length=1) == [first.path]
    flushed(uri, domain)
    assert holds(first.path, *FIRST) and holds(first.path, *SECOND)

    succeeded(api.post(f"/api/v1/volumes/{first.pk}/detach/"))
    for clone in clones:
        succeeded(api.delete(f"/api/v1/volumes/{clone.pk}/"))
        assert not Path(clone.path).exists()
    succeeded(api.delete(f"/api/v1/volumes/{template.pk}/"))
    assert not Path(template.path).exists()


def test_a_shared_pool_volume_made_through_host_a_serves_a_guest_on_host_b(
    api, guest_on_b, host_a, host_b, pools, project_a
):
    """Files of a shared pool made by one host are unknown to the other's libvirt until it
    refreshes the pool: every step on host B must still find them."""
    uri, domain = host_b.uri, guest_on_b.domain_name
    volume = make_volume(api, project_a, pools[SHARED], "it-shared")
    succeeded(api.post(f"/api/v1/volumes/{volume.pk}/attach/", {"instance": guest_on_b.pk}, format="json"))
    assert source_of(uri, domain, "vdb") == volume.path
    wait_for_log(guest_on_b.serial_log_path, r"\[vdb\] 2097152 512-byte logical blocks")

    op = failed(api.post(f"/api/v1/volumes/{volume.pk}/reclaim/"))
    assert "guest agent" in op.message, op.message

    guest_write(uri, domain, "vdb", *FIRST)
    snap = snapshot(api, volume, "on-b")
    assert_chain(volume, length=2)
    volume.refresh_from_db()
    before = {volume.path, snap.layer_path}
    succeeded(api.delete(f"/api/v1/snapshots/{snap.pk}/"))
    volume.refresh_from_db()
    # The merge commits or pulls, whichever moves less data: one of the two files is left.
    assert assert_chain(volume, length=1) == [volume.path]
    assert volume.path in before and not any(Path(p).exists() for p in before - {volume.path})
    flushed(uri, domain)
    assert holds(volume.path, *FIRST)

    succeeded(api.post(f"/api/v1/volumes/{volume.pk}/detach/"))
    succeeded(api.delete(f"/api/v1/volumes/{volume.pk}/"))
    assert not Path(volume.path).exists(), "the volume's file was left behind"
