"""An image made from an instance on the local libvirtd (qemu:///system), with real data: the
root disk is a qcow2 overlay (written to with qemu-io) over a base image in a temporary dir pool.
A stopped instance's disk is cloned by libvirt, a running one mirrored by a block copy; the
image (in the pool of its home host, or streamed into the portal's image store when no real host
serves the pool) holds what the guest sees on the root disk, its backing chain flattened."""

import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

import hypervisor as hv
from compute.choices import ImageState, InstanceState
from compute.models import Host, Image, Instance
from compute.services import images
from portal.models import Operation
from tests.hypervisor.conftest import REAL_URI, real_host  # noqa: F401  (skips without a libvirtd)

pytestmark = pytest.mark.integration
MIB = 1024 * 1024
IMAGES_DIR = Path("/var/lib/libvirt/images")  # where QEMU, whichever user it runs as, may read


def run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def quick_polls(settings, tmp_path):
    settings.NUBES_BLOCKJOB_POLL_S = 0.2
    settings.NUBES_IMAGE_STORE = str(tmp_path / "store")
    return tmp_path / "store"


@pytest.fixture
def real_pool(real_host):
    parent = IMAGES_DIR if IMAGES_DIR.is_dir() else None
    path = Path(tempfile.mkdtemp(prefix="nubes-test-capture-", dir=parent))
    path.chmod(0o755)
    pool = f"nubes-test-cap-{uuid.uuid4().hex[:8]}"
    hv.pool_define_dir(REAL_URI, pool, str(path))
    hv.pool_start(REAL_URI, pool, autostart=False)
    yield pool, path
    hv.pool_delete(REAL_URI, pool)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def real_instance(real_pool, cluster, flavor, project_a):
    """A shut-off instance on the local host: base.qcow2 (2 MiB of 0x11) under a root overlay
    with 64 KiB of 0x5a written at 1 MiB; its domain defined (no OS: it sits in the firmware)."""
    pool, path = real_pool
    raw = path / "base.raw"
    raw.write_bytes(b"\x11" * 2 * MIB)
    run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(path / "base.qcow2"))
    raw.unlink()
    hv.pool_refresh(REAL_URI, pool)
    base = Image.objects.create(name="base", volume="base.qcow2", pool=pool, state=ImageState.ACTIVE)
    host = Host.objects.create(name="local", uri=REAL_URI, cluster=cluster, state="up", simulated=False)
    instance = Instance.objects.create(
        project=project_a,
        name="vm",
        flavor=flavor,
        image=base,
        host=host,
        vcpus=1,
        ram_mb=64,
        disk_gb=1,
        state=InstanceState.SHUTOFF,
    )
    root = hv.volume_create(
        REAL_URI, pool, instance.root_volume, MIB * 1024, "qcow2", backing_path=str(path / "base.qcow2")
    )
    run("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 64k", root.path)
    spec = hv.DomainSpec(
        name=instance.domain_name,
        uuid=str(instance.uuid),
        memory_kib=64 * 1024,
        domain_type="qemu",
        disks=(hv.DiskSpec(target_dev="vda", path=root.path, format="qcow2", bus="virtio"),),
        guest_agent=False,
        serial_console=False,
        vnc=False,
        balloon_stats_period_s=None,
    )
    hv.domain_define(REAL_URI, hv.build_domain_xml(spec))
    yield instance, host, root.path
    try:
        if hv.domain_state(REAL_URI, str(instance.uuid)).state != "shutoff":
            hv.domain_destroy(REAL_URI, str(instance.uuid))
        hv.domain_undefine(REAL_URI, str(instance.uuid))
    except hv.DomainNotFound:
        pass


def same_content(root_path, image_path):
    """qemu-img compare: what a guest reads is the same (-U: the root may be in use)."""
    return subprocess.run(["qemu-img", "compare", "-U", root_path, image_path], capture_output=True).returncode == 0


def capture(alice, instance, name, run_tasks):
    with run_tasks():
        image, _op = images.create_from_instance(alice, instance, name)
    op = Operation.objects.get(kind="instance.create_image", detail__image=image.pk)
    assert op.status == "succeeded", op.error
    return Image.objects.get(pk=image.pk), op


@pytest.mark.parametrize("home", [True, False], ids=["in-the-pool", "in-the-store"])
def test_a_stopped_instance_is_cloned_with_its_data(real_instance, alice, run_tasks, quick_polls, home):
    instance, host, root_path = real_instance
    if home:
        host.facts = {"pools": [instance.image.pool]}
        host.save(update_fields=["facts"])
    image, op = capture(alice, instance, "golden", run_tasks)
    assert "from the stopped disk" in op.message
    assert (image.state, image.format, image.virtual_size_gb, image.min_disk_gb) == ("active", "qcow2", 1, 1)
    if home:
        made = hv.volume_info(REAL_URI, image.pool, image.volume).path
        assert image.file_path == ""
    else:
        made = image.file_path
        assert Path(made).parent == quick_polls and len(image.checksum_sha256) == 64
        with pytest.raises(hv.VolumeNotFound):
            hv.volume_info(REAL_URI, image.pool, image.volume)  # the copy on the host went
    assert same_content(root_path, made)
    assert "backing" not in run("qemu-img", "info", "-U", made).lower()  # the chain was flattened
    assert run("qemu-io", "-f", "qcow2", "-r", "-U", "-c", "read -P 0x5a 1M 64k", made)
    assert run("qemu-io", "-f", "qcow2", "-r", "-U", "-c", "read -P 0x11 0 1M", made)


def test_a_running_instance_is_mirrored_and_keeps_running(real_instance, alice, run_tasks, quick_polls):
    instance, host, root_path = real_instance
    host.facts = {"pools": [instance.image.pool]}
    host.save(update_fields=["facts"])
    try:
        hv.domain_start(REAL_URI, str(instance.uuid))
    except hv.HypervisorError as exc:
        pytest.skip(f"QEMU does not start a guest here: {exc}")
    Instance.objects.filter(pk=instance.pk).update(state=InstanceState.ACTIVE)
    instance.refresh_from_db()
    image, op = capture(alice, instance, "live", run_tasks)
    assert "live, a mirror of the running disk" in op.message
    assert hv.domain_state(REAL_URI, str(instance.uuid)).state == "running"
    assert hv.block_job(REAL_URI, str(instance.uuid), "vda") is None
    assert hv.parse_domain_xml(hv.domain_xml(REAL_URI, str(instance.uuid))).disks[0].source == root_path
    made = hv.volume_info(REAL_URI, image.pool, image.volume).path
    assert same_content(root_path, made)
    assert run("qemu-io", "-f", "qcow2", "-r", "-U", "-c", "read -P 0x5a 1M 64k", made)
