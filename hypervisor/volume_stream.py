"""Streaming an existing volume's bytes in and out over the libvirt connection
(virStorageVolUpload / virStorageVolDownload): the same for a local and a remote libvirtd.

libvirt's test driver has neither. On test:// hosts the bytes go to and come from a small
in-process store per volume (at most SIMULATED_KEEP_BYTES; beyond that only the length is
counted), and every result says ``simulated=True``. Real hosts never run that code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import libvirt

from .connection import get_connection, is_simulated
from .errors import InvalidConfig, OperationFailed, from_libvirt_error, translated
from .storage import _volume

CHUNK_BYTES = 1024 * 1024
SIMULATED_KEEP_BYTES = 16 << 20
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class StreamResult:
    bytes_moved: int
    simulated: bool


def file_chunks(path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    with open(path, "rb") as source:
        while chunk := source.read(chunk_bytes):
            yield chunk


def _abort(stream: libvirt.virStream) -> None:
    try:
        stream.abort()
    except libvirt.libvirtError:
        pass  # already torn down by the error that brought us here


_simulated: dict[tuple[str, str, str], bytes] = {}
_guard = threading.Lock()


def volume_upload_into(
    uri: str, pool: str, name: str, chunks: Iterable[bytes], total: int, *, on_progress: Progress | None = None
) -> StreamResult:
    """Replace the content of volume ``name`` with ``total`` bytes read from ``chunks``.
    ``on_progress(sent, total)`` after every chunk; fewer or more bytes than ``total`` fail."""
    if total <= 0:
        raise InvalidConfig("an upload has at least one byte")
    vol = _volume(uri, pool, name)
    if is_simulated(uri):
        return _upload_simulated(uri, pool, name, chunks, total, on_progress)
    stream = get_connection(uri).newStream(0)
    sent, finished = 0, False
    try:
        vol.upload(stream, 0, total, 0)
        for chunk in chunks:
            sent += len(chunk)
            if sent > total:
                raise InvalidConfig(f"more than the announced {total} bytes")
            _send_all(stream, chunk, uri)
            if on_progress is not None:
                on_progress(sent, total)
        if sent != total:
            raise InvalidConfig(f"the upload ended after {sent} of {total} bytes")
        stream.finish()
        finished = True
    except libvirt.libvirtError as exc:
        raise from_libvirt_error(exc, uri) from exc
    finally:
        if not finished:
            _abort(stream)
    with translated(uri):
        vol.storagePoolLookupByVolume().refresh(0)
    return StreamResult(bytes_moved=sent, simulated=False)


def _send_all(stream: libvirt.virStream, chunk: bytes, uri: str) -> None:
    """Send the whole chunk: itself while nothing of it is written (stream.send takes bytes; a
    copy per chunk cost a memcpy of every byte in the web process), the rest copied only after a
    partial write."""
    data = chunk if isinstance(chunk, bytes) else bytes(chunk)
    while data:
        written = stream.send(data)
        if written < 0:
            raise OperationFailed("the libvirt stream refused data", uri=uri)
        data = memoryview(data)[written:].tobytes() if written < len(data) else b""


def _upload_simulated(uri, pool, name, chunks, total, on_progress):
    kept, sent = [], 0
    for chunk in chunks:
        sent += len(chunk)
        if sent <= SIMULATED_KEEP_BYTES:
            kept.append(bytes(chunk))
        if on_progress is not None:
            on_progress(sent, total)
    if sent != total:
        raise InvalidConfig(f"the upload ended after {sent} of {total} bytes")
    with _guard:
        _simulated[(uri, pool, name)] = b"".join(kept) if sent <= SIMULATED_KEEP_BYTES else b""
    return StreamResult(bytes_moved=sent, simulated=True)


def volume_download_size(uri: str, pool: str, name: str) -> int:
    """How many bytes a download of the volume's file yields (its physical size)."""
    vol = _volume(uri, pool, name)
    if is_simulated(uri):
        with _guard:
            return len(_simulated.get((uri, pool, name), b""))
    with translated(uri):
        return vol.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2]


def volume_download(
    uri: str, pool: str, name: str, *, on_progress: Progress | None = None, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[bytes]:
    """The volume's file, chunk by chunk; ``on_progress(received, total)`` after each. Closing
    the iterator early aborts the stream."""
    total = volume_download_size(uri, pool, name)
    if is_simulated(uri):
        with _guard:
            data = _simulated.get((uri, pool, name), b"")
        for start in range(0, len(data), chunk_bytes):
            chunk = data[start : start + chunk_bytes]
            if on_progress is not None:
                on_progress(start + len(chunk), total)
            yield chunk
        return
    yield from download_range(uri, _volume(uri, pool, name), 0, total, on_progress, chunk_bytes)


def download_range(uri, vol, offset, total, on_progress=None, chunk_bytes=CHUNK_BYTES):
    """``total`` bytes of the volume from ``offset``, chunk by chunk (virStorageVolDownload)."""
    stream = get_connection(uri).newStream(0)
    received, finished = 0, False
    try:
        vol.download(stream, offset, total, 0)
        while True:
            chunk = stream.recv(chunk_bytes)
            if not chunk:
                break
            received += len(chunk)
            if on_progress is not None:
                on_progress(received, total)
            yield chunk
        stream.finish()
        finished = True
    except libvirt.libvirtError as exc:
        raise from_libvirt_error(exc, uri) from exc
    finally:
        if not finished:
            _abort(stream)


def forget_simulated_data() -> None:
    """Tests: drop what simulated uploads kept."""
    with _guard:
        _simulated.clear()
