"""Offline chain changes with qemu-img on files of this machine (no libvirtd needed): commit,
rebase, layer copies keep the data the guest would see; remote and simulated hosts refused."""

import shutil
import subprocess

import pytest

from hypervisor import offline
from hypervisor.errors import InvalidConfig, NotSupported

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-img") is None or shutil.which("qemu-io") is None, reason="needs qemu-img and qemu-io"
)
LOCAL = "qemu:///system"
MIB = 1 << 20


def make(path, backing=None):
    args = ["qemu-img", "create", "-q", "-f", "qcow2"]
    if backing:
        args += ["-b", str(backing), "-F", "qcow2"]
    subprocess.run([*args, str(path), "16M"], check=True)
    return str(path)


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
def chain(tmp_path):
    """base (0x11 at 0M) <- mid (0x22 at 1M) <- top (0x33 at 2M)."""
    base = make(tmp_path / "base")
    write(base, 0, 0x11)
    mid = make(tmp_path / "mid", base)
    write(mid, 1, 0x22)
    top = make(tmp_path / "top", mid)
    write(top, 2, 0x33)
    return base, mid, top


def sees_all(path):
    return holds(path, 0, 0x11) and holds(path, 1, 0x22) and holds(path, 2, 0x33)


def test_a_commit_writes_the_top_into_its_backing_file(chain):
    base, mid, top = chain
    assert offline.image_commit(LOCAL, top) == mid
    assert holds(mid, 2, 0x33) and sees_all(mid)
    assert offline.backing_chain(LOCAL, mid) == (mid, base)


def test_a_safe_rebase_skips_a_middle_layer_without_losing_its_data(chain):
    base, mid, top = chain
    offline.image_rebase(LOCAL, top, base)
    assert offline.backing_chain(LOCAL, top) == (top, base)
    assert sees_all(top)


def test_a_rebase_onto_nothing_flattens(chain):
    _base, _mid, top = chain
    offline.image_rebase(LOCAL, top, None)
    assert offline.backing_chain(LOCAL, top) == (top,) and sees_all(top)


def test_a_layer_by_layer_copy_keeps_the_chain_and_the_data(chain, tmp_path):
    base, mid, top = chain
    copies = [str(tmp_path / f"copy-{n}") for n in range(3)]
    offline.image_copy_layer(LOCAL, base, copies[0], None)
    offline.image_copy_layer(LOCAL, mid, copies[1], copies[0])
    offline.image_copy_layer(LOCAL, top, copies[2], copies[1])
    assert offline.backing_chain(LOCAL, copies[2]) == (copies[2], copies[1], copies[0])
    assert sees_all(copies[2])
    # only its own data moved: the top copy does not hold the base's clusters itself
    assert offline.image_info(LOCAL, copies[2]).actual_size < 2 * MIB


def test_a_layer_copy_refuses_to_drop_a_backing_file(chain, tmp_path):
    _base, mid, _top = chain
    with pytest.raises(InvalidConfig):
        offline.image_copy_layer(LOCAL, mid, str(tmp_path / "orphan"), None)


def test_a_failing_tool_raises_with_its_message(tmp_path):
    with pytest.raises(offline.OperationFailed, match="qemu-img info failed: .*Could not open"):
        offline.image_commit(LOCAL, str(tmp_path / "nothere"))


@pytest.mark.parametrize("uri", ["qemu+tcp://10.99.0.2/system", "qemu+ssh://root@far/system", "test:///default"])
def test_it_runs_nothing_for_remote_or_simulated_hosts(chain, uri):
    with pytest.raises(NotSupported):
        offline.image_commit(uri, chain[2])
