"""Moving data into a host's pool from the caller's machine: virStorageVolUpload over the
libvirt connection (works the same for a local and a remote libvirtd).

The streaming itself is volume_stream.volume_upload_into, shared with the volume upload API;
libvirt's test driver has no volume upload, so on test:// hosts the bytes are only counted (and
small ones kept for a download), ``simulated=True``. Real hosts never run that code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import libvirt

from .errors import HypervisorError, InvalidConfig, translated
from .storage import _pool, _volume, _volume_info, build_volume_xml, check_name
from .types import VolumeInfo
from .volume_stream import CHUNK_BYTES, file_chunks, volume_download, volume_download_size, volume_upload_into

QCOW2_MAGIC = b"QFI\xfb"
QCOW2_SIZE_OFFSET = 24  # big-endian u64 virtual size in the qcow2 header
QCOW2_HEADER_BYTES = 32


@dataclass(frozen=True)
class UploadResult:
    volume: VolumeInfo
    bytes_sent: int
    simulated: bool


def _capacity(path: Path, fmt: str, size: int) -> int:
    """The volume's capacity: a qcow2 file's virtual size, a raw file's length."""
    if fmt != "qcow2":
        return size
    with open(path, "rb") as source:
        header = source.read(QCOW2_HEADER_BYTES)
    if not header.startswith(QCOW2_MAGIC) or len(header) < QCOW2_HEADER_BYTES:
        raise InvalidConfig(f"{path} is not a qcow2 file")
    return int.from_bytes(header[QCOW2_SIZE_OFFSET : QCOW2_SIZE_OFFSET + 8], "big")


def volume_upload(
    uri: str,
    pool: str,
    name: str,
    source_path: str,
    *,
    fmt: str = "qcow2",
    on_progress: Callable[[int, int], None] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> UploadResult:
    """Create volume ``name`` in ``pool`` and stream the local file ``source_path`` into it.
    ``on_progress(sent, total)`` is called after every chunk. A failed upload removes the
    half-written volume."""
    check_name(name, "volume name")
    path = Path(source_path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidConfig(f"cannot read {source_path}: {exc}") from exc
    if size == 0:
        raise InvalidConfig(f"{source_path} is empty")
    capacity = _capacity(path, fmt, size)
    return volume_create_streamed(
        uri, pool, name, file_chunks(path, chunk_bytes), size, capacity=capacity, fmt=fmt, on_progress=on_progress
    )


def volume_create_from_bytes(uri: str, pool: str, name: str, data: bytes, *, fmt: str = "raw") -> UploadResult:
    """A new volume holding exactly ``data`` (a cloud-init seed image, say), written over the
    libvirt connection: the same for a local and a remote host. Nothing is left on failure."""
    return volume_create_streamed(uri, pool, name, (data,), len(data), capacity=len(data), fmt=fmt)


def volume_create_streamed(
    uri: str,
    pool: str,
    name: str,
    chunks: Iterable[bytes],
    size: int,
    *,
    capacity: int,
    fmt: str,
    on_progress: Callable[[int, int], None] | None = None,
) -> UploadResult:
    """Create volume ``name`` (``capacity`` bytes, ``fmt``) and stream ``size`` bytes of
    ``chunks`` into it. A failed or short upload removes the volume; if the host cannot be
    reached to remove it, the error says the volume is left."""
    if size <= 0:
        raise InvalidConfig("an upload has at least one byte")
    storage_pool = _pool(uri, pool)
    xml = build_volume_xml(name, capacity, fmt)
    with translated(uri):
        vol = storage_pool.createXML(xml, 0)
    try:
        result = volume_upload_into(uri, pool, name, chunks, size, on_progress=on_progress)
    except BaseException as exc:
        left = _delete_quietly(vol)
        if left and isinstance(exc, HypervisorError):
            exc.args = (
                f"{exc.args[0]} (and the partly written volume {name} in pool {pool} could not be removed: {left})",
            )
        raise
    return UploadResult(
        volume=_volume_info(pool, _volume(uri, pool, name)), bytes_sent=result.bytes_moved, simulated=result.simulated
    )


def _delete_quietly(vol: libvirt.virStorageVol) -> str:
    """Delete the volume; returns why it could not be, or "" (the upload's own error is the one to raise)."""
    try:
        vol.delete(0)
    except libvirt.libvirtError as exc:
        return exc.get_error_message() or str(exc)
    return ""


def volume_copy_across(
    src_uri: str,
    src_pool: str,
    name: str,
    dst_uri: str,
    dst_pool: str,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> UploadResult:
    """Copy volume ``name`` from one host's pool into another's (same name and format), streamed
    through this process (virStorageVolDownload into virStorageVolUpload): no file on this
    machine. A failed copy removes what it created on the destination."""
    source = _volume_info(src_pool, _volume(src_uri, src_pool, name))
    size = volume_download_size(src_uri, src_pool, name)
    return volume_create_streamed(
        dst_uri,
        dst_pool,
        name,
        volume_download(src_uri, src_pool, name),
        size,
        capacity=source.capacity_bytes,
        # Anything but qcow2 is copied byte for byte as raw (libvirt calls a seed image "iso").
        fmt="qcow2" if source.format == "qcow2" else "raw",
        on_progress=on_progress,
    )
