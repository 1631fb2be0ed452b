"""volume_upload: a local file streamed into a host pool (virStorageVolUpload) with progress.
Simulated on test:// hosts; the integration test streams into a temporary dir pool of the real
libvirtd at qemu:///system and reads the bytes back from the volume's file."""

import hashlib
import os
import subprocess
import uuid

import pytest

from hypervisor import (
    HostUnreachable,
    InvalidConfig,
    VolumeNotFound,
    list_pools,
    list_volumes,
    pool_define_dir,
    pool_delete,
    pool_start,
    volume_create_from_bytes,
    volume_create_streamed,
    volume_delete_path,
    volume_download,
    volume_info,
    volume_upload,
)

URI = "qemu:///system"
MIB = 1024 * 1024


def test_a_simulated_upload_records_the_size_and_reports_progress(host_a, tmp_path):
    source = tmp_path / "disk.raw"
    source.write_bytes(b"\x01" * (3 * MIB + 5))
    seen = []
    result = volume_upload(
        host_a,
        "default",
        "uploaded.raw",
        str(source),
        fmt="raw",
        on_progress=lambda sent, total: seen.append((sent, total)),
    )
    assert result.simulated and result.bytes_sent == 3 * MIB + 5
    assert volume_info(host_a, "default", "uploaded.raw").capacity_bytes == 3 * MIB + 5
    assert seen[-1] == (3 * MIB + 5, 3 * MIB + 5)
    assert [sent for sent, _ in seen] == sorted(sent for sent, _ in seen) and len(seen) == 4


def test_a_qcow2_upload_takes_the_virtual_size_and_refuses_a_non_qcow2_file(host_a, tmp_path):
    fake = tmp_path / "fake.qcow2"
    fake.write_bytes(b"QFI\xfb" + bytes(20) + (5 * 1024 * MIB).to_bytes(8, "big") + bytes(100))
    assert volume_upload(host_a, "default", "img.qcow2", str(fake)).volume.capacity_bytes == 5 * 1024 * MIB
    raw = tmp_path / "not.qcow2"
    raw.write_bytes(b"\x00" * 512)
    with pytest.raises(InvalidConfig, match="not a qcow2"):
        volume_upload(host_a, "default", "bad.qcow2", str(raw))


def test_it_refuses_an_empty_or_missing_file(host_a, tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(InvalidConfig, match="empty"):
        volume_upload(host_a, "default", "e.raw", str(tmp_path / "empty"), fmt="raw")
    with pytest.raises(InvalidConfig, match="cannot read"):
        volume_upload(host_a, "default", "m.raw", str(tmp_path / "missing"), fmt="raw")


@pytest.fixture
def real_pool(real_host, tmp_path):
    name = f"nubes-test-upload-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "pool"
    path.mkdir()
    pool_define_dir(URI, name, str(path))
    pool_start(URI, name, autostart=False)
    yield name, path
    pool_delete(URI, name, delete_data=False)


@pytest.mark.integration
def test_a_real_upload_streams_every_byte_into_the_pool(real_pool, tmp_path):
    pool, path = real_pool
    data = os.urandom(5 * MIB + 123)
    source = tmp_path / "data.raw"
    source.write_bytes(data)
    seen = []
    result = volume_upload(
        URI,
        pool,
        "data.raw",
        str(source),
        fmt="raw",
        on_progress=lambda sent, total: seen.append(sent),
        chunk_bytes=MIB,
    )
    assert not result.simulated and result.bytes_sent == len(data)
    assert seen == [MIB, 2 * MIB, 3 * MIB, 4 * MIB, 5 * MIB, len(data)]
    assert hashlib.sha256((path / "data.raw").read_bytes()).digest() == hashlib.sha256(data).digest()


@pytest.mark.integration
def test_a_real_qcow2_upload_is_a_qcow2_volume_of_its_virtual_size(real_pool, tmp_path):
    pool, path = real_pool
    source = tmp_path / "img.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(source), "64M"], check=True)
    result = volume_upload(URI, pool, "img.qcow2", str(source), fmt="qcow2")
    assert result.volume.capacity_bytes == 64 * MIB and result.volume.format == "qcow2"
    info = subprocess.run(
        ["qemu-img", "info", "--output=json", str(path / "img.qcow2")], check=True, capture_output=True, text=True
    ).stdout
    assert '"format": "qcow2"' in info and '"virtual-size": 67108864' in info


def cut_off(data, after):
    """Chunks of ``data`` that stop with a broken link after ``after`` bytes."""
    yield data[:after]
    raise ConnectionResetError("the client went away")


def test_a_volume_made_from_bytes_holds_exactly_them(host_a):
    result = volume_create_from_bytes(host_a, "default", "seed.iso", b"cidata" * 100)
    assert result.volume.capacity_bytes == 600 and result.volume.format == "raw"
    assert b"".join(volume_download(host_a, "default", "seed.iso")) == b"cidata" * 100


def test_an_upload_cut_off_mid_way_leaves_no_volume(host_a):
    with pytest.raises(ConnectionResetError):
        volume_create_streamed(
            host_a, "default", "half.raw", cut_off(b"x" * 4096, 1000), 4096, capacity=4096, fmt="raw"
        )
    with pytest.raises(VolumeNotFound):
        volume_info(host_a, "default", "half.raw")


def test_a_short_upload_is_refused_and_leaves_no_volume(host_a):
    with pytest.raises(InvalidConfig, match="after 10 of 4096 bytes"):
        volume_create_streamed(host_a, "default", "short.raw", (b"y" * 10,), 4096, capacity=4096, fmt="raw")
    assert "short.raw" not in [v.name for v in list_volumes(host_a, "default")]


def test_a_volume_is_deleted_by_its_path_and_a_missing_one_is_volume_not_found(host_a):
    made = volume_create_from_bytes(host_a, "default", "bypath.iso", b"z" * 10)
    volume_delete_path(host_a, made.volume.path)
    with pytest.raises(VolumeNotFound):
        volume_delete_path(host_a, made.volume.path)


@pytest.fixture
def host_b_uri():
    """The lab's host B over its network URI (a remote libvirtd); skipped, with the reason, without the lab."""
    from portal import lab as lab_module

    try:
        lab = lab_module.load()
    except lab_module.LabNotUp as exc:
        pytest.skip(f"the lab is not up: {exc}")
    uri = lab["hosts"][1]["uri"]
    try:
        list_pools(uri)
    except HostUnreachable as exc:
        pytest.skip(f"lab host B does not answer on {uri}: {exc}")
    return uri


@pytest.mark.integration
def test_a_volume_is_written_and_read_back_on_a_remote_host(host_b_uri):
    name = f"nubes-test-remote-{uuid.uuid4().hex[:8]}.iso"
    data = os.urandom(300 * 1024 + 7)
    made = volume_create_from_bytes(host_b_uri, "nubes-shared", name, data)
    try:
        assert not made.simulated and made.bytes_sent == len(data)
        assert b"".join(volume_download(host_b_uri, "nubes-shared", name)) == data
    finally:
        volume_delete_path(host_b_uri, made.volume.path)
    assert name not in [v.name for v in list_volumes(host_b_uri, "nubes-shared")]


@pytest.mark.integration
def test_an_upload_to_a_remote_host_cut_off_mid_way_leaves_no_volume(host_b_uri):
    name = f"nubes-test-cut-{uuid.uuid4().hex[:8]}.raw"
    with pytest.raises(ConnectionResetError):
        volume_create_streamed(
            host_b_uri, "nubes-shared", name, cut_off(b"q" * 2 * MIB, MIB), 2 * MIB, capacity=2 * MIB, fmt="raw"
        )
    assert name not in [v.name for v in list_volumes(host_b_uri, "nubes-shared")]
