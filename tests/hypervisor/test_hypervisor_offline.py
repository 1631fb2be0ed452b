"""Offline chain changes keep the data the guest would see: commit (also of a middle layer, its
overlay repointed), rebase, layer copies. Each runs twice: with qemu-img on files of this
machine (no libvirtd needed), and on lab host B (qemu+tcp, a remote host) as block jobs of a
paused helper domain, on files of its shared pool that this machine sees too. Simulated hosts
and the local-only tools on remote hosts are refused."""

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

import hypervisor as hv
from hypervisor import offline
from hypervisor.errors import InvalidConfig, NotSupported
from portal import lab as lab_module

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-img") is None or shutil.which("qemu-io") is None, reason="needs qemu-img and qemu-io"
)
LOCAL = "qemu:///system"
MIB = 1 << 20
REMOTE_POOL = "nubes-shared"  # lab host B's pool; the same directory here


def make(path, backing=None):
    args = ["qemu-img", "create", "-q", "-f", "qcow2"]
    if backing:
        args += ["-b", str(backing), "-F", "qcow2"]
    subprocess.run([*args, str(path), "16M"], check=True)
    return str(path)


@pytest.fixture(params=["local", pytest.param("remote", marks=pytest.mark.integration)])
def where(request, tmp_path):
    """(uri, directory) the chain lives in: this machine's temporary directory, or host B's
    shared pool (files removed after, helper domains checked gone)."""
    if request.param == "local":
        yield LOCAL, tmp_path
        return
    try:
        lab = lab_module.load()
    except lab_module.LabNotUp as exc:
        pytest.skip(f"the lab is not up: {exc}")
    uri = lab["hosts"][1]["uri"]
    pool = Path(next(p["path"] for p in lab["pools"] if p["name"] == REMOTE_POOL)) / f"offline-{uuid.uuid4().hex[:8]}"
    pool.mkdir()
    try:
        yield uri, pool
    finally:
        shutil.rmtree(pool)
        helpers = [d.name for d in hv.list_domains(uri) if d.name.startswith(hv.offline_domain.NAME_PREFIX)]
        assert not helpers, f"helper domains left on {uri}: {helpers}"


def write(path, mib, pattern):
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", f"write -P {pattern:#x} {mib}M 1M", str(path)], check=True, capture_output=True
    )


def holds(path, mib, pattern):
    out = subprocess.run(
        ["qemu-io", "-r", "-f", "qcow2", "-c", f"read -P {pattern:#x} {mib}M 1M", str(path)],
        capture_output=True,
        text=True,
    )
    return out.returncode == 0 and "verification failed" not in out.stdout + out.stderr


@pytest.fixture
def chain(where):
    """base (0x11 at 0M) <- mid (0x22 at 1M) <- top (0x33 at 2M)."""
    _uri, tmp_path = where
    base = make(tmp_path / "base")
    write(base, 0, 0x11)
    mid = make(tmp_path / "mid", base)
    write(mid, 1, 0x22)
    top = make(tmp_path / "top", mid)
    write(top, 2, 0x33)
    return base, mid, top


def sees_all(path):
    return holds(path, 0, 0x11) and holds(path, 1, 0x22) and holds(path, 2, 0x33)


def test_a_commit_writes_the_top_into_its_backing_file(where, chain):
    uri, _dir = where
    base, mid, top = chain
    assert not holds(mid, 2, 0x33)
    assert offline.image_commit(uri, top) == mid
    assert holds(mid, 2, 0x33) and sees_all(mid)
    assert offline.backing_chain(LOCAL, mid) == (mid, base)


def test_a_commit_of_a_middle_layer_repoints_the_one_built_on_it(where, chain):
    uri, _dir = where
    base, mid, top = chain
    assert offline.image_commit(uri, mid, overlay_path=top) == base
    assert holds(base, 1, 0x22) and not holds(base, 2, 0x33)
    assert offline.backing_chain(LOCAL, top) == (top, base) and sees_all(top)


def test_a_safe_rebase_skips_a_middle_layer_without_losing_its_data(where, chain):
    uri, _dir = where
    base, mid, top = chain
    offline.image_rebase(uri, top, base)
    assert offline.backing_chain(LOCAL, top) == (top, base)
    assert sees_all(top)


def test_a_rebase_onto_nothing_flattens(where, chain):
    uri, _dir = where
    _base, _mid, top = chain
    offline.image_rebase(uri, top, None)
    assert offline.backing_chain(LOCAL, top) == (top,) and sees_all(top)


def test_a_layer_by_layer_copy_keeps_the_chain_and_the_data(where, chain):
    uri, tmp_path = where
    base, mid, top = chain
    copies = [str(tmp_path / f"copy-{n}") for n in range(3)]
    # a remote host's copy is pre-made, backed by the copy below (as storage.volume_create does)
    for n, backing in enumerate((None, copies[0], copies[1])):
        make(copies[n], backing)
    offline.image_copy_layer(uri, base, copies[0], None)
    offline.image_copy_layer(uri, mid, copies[1], copies[0])
    offline.image_copy_layer(uri, top, copies[2], copies[1])
    assert offline.backing_chain(LOCAL, copies[2]) == (copies[2], copies[1], copies[0])
    assert sees_all(copies[2])
    # only its own data moved: the top copy does not hold the base's clusters itself
    assert offline.image_info(LOCAL, copies[2]).actual_size < 2 * MIB


def test_a_layer_copy_refuses_to_drop_a_backing_file(where, chain):
    uri, tmp_path = where
    _base, mid, _top = chain
    orphan = make(tmp_path / "orphan")
    with pytest.raises(InvalidConfig):
        offline.image_copy_layer(uri, mid, orphan, None)


def test_a_failing_tool_raises_with_its_message(tmp_path):
    with pytest.raises(offline.OperationFailed, match="qemu-img info failed: .*Could not open"):
        offline.image_commit(LOCAL, str(tmp_path / "nothere"))


def test_simulated_hosts_have_no_files_and_remote_ones_no_local_tools(tmp_path):
    path = make(tmp_path / "one")
    with pytest.raises(NotSupported, match="simulated host has no files"):
        offline.image_commit("test:///default", path)
    with pytest.raises(NotSupported, match="paused helper domain"):
        offline.image_info("qemu+ssh://root@far/system", path)
    with pytest.raises(NotSupported, match="paused helper domain"):
        offline.image_rebase("qemu+ssh://root@far/system", path, None, unsafe=True)
