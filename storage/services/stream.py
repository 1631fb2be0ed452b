"""A volume's data in and out through the API, streamed while the request lasts
(storage.tasks.stream does the libvirt side)."""

import itertools

from django.db import transaction

from portal import audit, operations
from portal.errors import ActionError, Conflict
from portal.streaming import body_pieces
from storage.choices import (
    BYTES_PER_GIB,
    QCOW2_HEADER_BYTES,
    QCOW2_MAGIC,
    QCOW2_SIZE_OFFSET,
    UPLOAD_CHUNK,
    Action,
    PoolState,
    VolumeFormat,
    VolumeState,
)
from storage.hosts import instance_running
from storage.models import Volume
from storage.services.common import (
    check_idle,
    volume_guard,
)
from storage.tasks import stream as stream_tasks


def _check_upload_body(volume, length, first):
    capacity = volume.size_gb * BYTES_PER_GIB
    if length <= 0:
        raise ActionError("Send the volume's data as the request body, with its Content-Length.", field="body")
    if volume.format == VolumeFormat.QCOW2:
        if not first.startswith(QCOW2_MAGIC) or len(first) < QCOW2_HEADER_BYTES:
            raise ActionError(
                f"Volume {volume.name} is qcow2: upload a qcow2 file (it starts with {QCOW2_MAGIC!r}).", field="body"
            )
        virtual = int.from_bytes(first[QCOW2_SIZE_OFFSET : QCOW2_SIZE_OFFSET + 8], "big")
        if virtual > capacity:
            raise ActionError(
                f"The qcow2 file is {virtual} bytes virtual; volume {volume.name} holds {capacity}.", field="body"
            )
    elif length > capacity:
        raise ActionError(f"{length} bytes do not fit into volume {volume.name} ({capacity} bytes).", field="body")


def upload_volume(user, volume, body, length, request=None):
    """Stream the request body (a file-like object of `length` bytes) into the volume over the
    libvirt connection while the request lasts, with progress on its Operation: the bytes come
    from this client, so no copy is kept on the portal's disk for a worker to read back. They go
    into a new file in the volume's pool, which replaces the old one only once complete: an upload
    cut off mid-way leaves the volume as it was and no half-written file. Returns the Operation."""

    volume_guard(user, volume, VolumeState.AVAILABLE)
    if volume.is_raw_device or volume.is_template or volume.backing_path or volume.snapshots.exists():
        raise Conflict(
            f"Volume {volume.name} is a mapped device, a template, a linked clone or has snapshots: an "
            "upload replaces its one file, which would break what depends on it."
        )
    first = body.read(UPLOAD_CHUNK)
    _check_upload_body(volume, length, first)
    with transaction.atomic():
        op = operations.begin(
            f"volume.{Action.UPLOAD}", volume, user=user, project=volume.project, detail={"size": length}
        )
        Volume.objects.filter(pk=volume.pk).update(state=VolumeState.BUSY)
    audit.record(user, f"volume.{Action.UPLOAD}", volume, request=request, size=length)
    stream_tasks.upload_body(op, volume, _body_chunks(body, first, length), length)
    return op


def _body_chunks(body, first, length):
    """The request body in chunks, ``first`` already read; stops at ``length`` or when it ends.
    A streamed body's chunks are the buffers that came from the client, uncopied."""
    received = 0
    for chunk in itertools.chain((first,), body_pieces(body, UPLOAD_CHUNK)):
        if not chunk:
            return
        chunk = chunk[: length - received]
        received += len(chunk)
        yield chunk
        if received >= length:
            return


def download_volume(user, volume, request=None):
    """(Operation, size, chunks) of the volume's file; the caller streams the chunks and closes
    them (a streaming response does) to end the Operation and its lease."""

    check_idle(volume)
    if volume.is_raw_device:
        raise Conflict(f"Volume {volume.name} is a host device; Nubes does not read devices.")
    if volume.state not in (VolumeState.AVAILABLE, VolumeState.IN_USE) or instance_running(volume.instance):
        raise Conflict(
            f"Volume {volume.name} is {volume.state}"
            + (f" under the running {volume.instance.name}" if instance_running(volume.instance) else "")
            + ": a download reads a disk nothing writes to; stop the instance or detach the volume."
        )
    if volume.backing_path:
        raise Conflict(
            f"Volume {volume.name} is an overlay on {volume.backing_path} (snapshots or a linked clone): "
            "a download gives one file; flatten it or delete its snapshots first."
        )
    if volume.pool.state != PoolState.ACTIVE:
        raise Conflict(
            f"Volume {volume.name} cannot be read: its storage pool {volume.pool.name} is {volume.pool.state}."
        )
    size = stream_tasks.download_size(volume)
    op = operations.begin(f"volume.{Action.DOWNLOAD}", volume, user=user, project=volume.project, detail={"size": size})
    audit.record(user, f"volume.{Action.DOWNLOAD}", volume, request=request, size=size)
    download = stream_tasks.Download(op, volume)
    return download.op, size, download
