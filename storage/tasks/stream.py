"""Volume data in and out, with progress on the Operation.

Both run in the request, because the bytes come from or go to that client: nothing is spooled
on the portal's disk for a worker on another machine to read back (virStorageVolUpload /
virStorageVolDownload over the libvirt connection, the same for a local and a remote host).
Upload writes a new file and swaps it in once complete; download is a generator the API's
streaming response iterates. Both record progress and the outcome on their Operation."""

import logging
import uuid
from contextlib import ExitStack

import hypervisor as hv
from portal import leases, operations
from portal.choices import OperationStatus
from portal.errors import ActionError, Conflict
from portal.models import Operation
from storage.choices import BYTES_PER_GIB, VolumeState
from storage.hosts import volume_host
from storage.models import Volume

CHUNK = 1 << 20
NEW_FILE = "new_file"  # the Operation's detail key naming the file an upload writes
PROGRESS_STEP = 5  # percent between recorded progress updates
logger = logging.getLogger(__name__)


class ProgressEvery:
    """on_progress(done, total) recording every PROGRESS_STEP percent on the Operation."""

    def __init__(self, op, verb):
        self.op, self.verb, self.last = op, verb, -PROGRESS_STEP

    def __call__(self, done, total):
        percent = 100 * done // total if total else 100
        if percent >= self.last + PROGRESS_STEP and percent < 100:
            self.last = percent
            operations.progress(self.op, percent, f"{self.verb} {done >> 20} of {total >> 20} MiB")


def upload_body(op, volume, chunks, size):
    """Stream ``chunks`` (``size`` bytes) into a new file in the volume's pool, then put it in
    the old file's place; the Operation ends succeeded or failed with the reason. A short or
    broken body, or a host that fails mid-way, removes the new file and leaves the volume as it
    was (ActionError / Conflict for the client)."""
    new_name = f"{volume.base_name}-u{uuid.uuid4().hex[:8]}"
    # noted first: if this process dies mid-way, the reaper's settle hook removes the new file
    Operation.objects.filter(pk=op.pk).update(detail={**op.detail, NEW_FILE: new_name})
    with leases.held_here(op) as claimed:
        _upload(claimed, volume, chunks, size, new_name)


def _upload(op, volume, chunks, size, new_name):
    host, pool = volume_host(volume), volume.pool.libvirt_name
    try:
        result = hv.volume_create_streamed(
            host.uri,
            pool,
            new_name,
            chunks,
            size,
            capacity=volume.size_gb * BYTES_PER_GIB,
            fmt=volume.format,
            on_progress=ProgressEvery(op, "Uploaded"),
        )
    except (hv.HypervisorError, OSError) as exc:
        Volume.objects.filter(pk=volume.pk).update(state=VolumeState.AVAILABLE)
        # A short body or one whose connection broke (OSError comes only from reading it): the client's doing.
        if isinstance(exc, hv.InvalidConfig | OSError):
            operations.fail(op, f"The upload was cut off ({exc}); volume {volume.name} is unchanged.")
            raise ActionError(
                f"The upload was cut off: {exc}; volume {volume.name} is unchanged.", field="body"
            ) from exc
        # libvirt's message names hosts and paths, which tenants do not see: logged, not answered.
        logger.warning("upload into volume %s failed: %s", volume.pk, exc)
        operations.fail(op, f"The host failed the upload; volume {volume.name} is unchanged.")
        raise Conflict(f"The host failed the upload; volume {volume.name} is unchanged. Try again later.") from exc
    old_name = volume.libvirt_name
    Volume.objects.filter(pk=volume.pk).update(
        libvirt_name=new_name,
        path=result.volume.path,
        allocation_bytes=result.volume.allocation_bytes,
        state=VolumeState.AVAILABLE,
        state_reason="",
    )
    left = ""
    try:
        hv.volume_delete(host.uri, pool, old_name)
    except hv.VolumeNotFound:
        pass
    except hv.HypervisorError as exc:
        logger.warning("the replaced file %s of volume %s was not removed: %s", old_name, volume.pk, exc)
        left = f"; the replaced file {old_name} could not be removed"
    operations.succeed(
        op,
        f"Uploaded {result.bytes_sent >> 20} MiB into {volume.name}"
        + (" (simulated)" if result.simulated else "")
        + left,
        bytes=result.bytes_sent,
    )


def settle_lost_upload(op):
    """The reaper's settle hook (portal.leases) for an upload whose web process died: remove the
    new file if it never took the volume's place, and make the volume available again, as it
    was. Raises when the host does not answer, so the reaper asks again next round."""
    volume = Volume.objects.select_related("pool").filter(pk=op.target_id).first()
    if volume is None:
        return ""
    new_name = op.detail.get(NEW_FILE)
    if new_name and volume.libvirt_name != new_name:
        try:
            hv.volume_delete(volume_host(volume).uri, volume.pool.libvirt_name, new_name)
        except hv.VolumeNotFound:
            pass
    Volume.objects.filter(pk=volume.pk, state=VolumeState.BUSY).update(state=VolumeState.AVAILABLE)
    return f"Volume {volume.name} is unchanged." if volume.libvirt_name != new_name else ""


def download_size(volume):
    try:
        return hv.volume_download_size(volume_host(volume).uri, volume.pool.libvirt_name, volume.libvirt_name)
    except hv.HypervisorError as exc:
        # libvirt's message names hosts and paths, which tenants do not see: logged, not answered.
        logger.warning("download of volume %s refused: %s", volume.pk, exc)
        raise Conflict(f"Volume {volume.name} cannot be read from its host now; try again later.") from exc


class Download:
    """The volume's file for the streaming response, under a lease this web process holds and
    renews as a task does (``leases.held_here``) from the moment the response is made until it
    is closed: if the process dies mid-way the reaper fails the Operation (before: running until
    the 30-minute time limit, the volume taking no other action). The Operation ends succeeded,
    or failed when the stream broke or the client went away, also before the first byte (the
    response closed unread: before, the Operation stayed queued for ever)."""

    def __init__(self, op, volume):
        self.volume, self.host = volume, volume_host(volume)
        self._lease = ExitStack()
        self.op = self._lease.enter_context(leases.held_here(op))
        self.sent, self.done, self.ended = 0, False, False
        self._chunks = self._stream()

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._chunks)

    def _stream(self):
        volume, op = self.volume, self.op
        try:
            for chunk in hv.volume_download(
                self.host.uri,
                volume.pool.libvirt_name,
                volume.libvirt_name,
                on_progress=ProgressEvery(op, "Downloaded"),
            ):
                self.sent += len(chunk)
                yield chunk
            self.done = True
        except hv.HypervisorError as exc:
            self._end(exc)
            raise
        finally:
            self._end()

    def _end(self, error=None):
        if self.ended:
            return
        self.ended = True
        self._lease.close()  # stops renewing
        if not _still_ours(self.op):
            return  # the reaper (or a cancel) ended it meanwhile
        if error is not None:
            operations.fail(self.op, error)
        elif self.done:
            operations.succeed(
                self.op,
                f"Downloaded {self.sent >> 20} MiB of {self.volume.name}"
                + (" (simulated)" if self.host.simulated else ""),
                bytes=self.sent,
            )
        else:
            operations.fail(self.op, f"The download stopped after {self.sent} bytes (the client went away)")

    def close(self):
        """Called by the response when it ends, also unread."""
        self._chunks.close()  # runs the stream's finally (aborts libvirt's stream) if it began
        self._end()


def _still_ours(op):
    return Operation.objects.filter(pk=op.pk, status=OperationStatus.RUNNING, worker=op.worker).exists()


def settle_lost_download(op):
    """The reaper's settle hook for a download whose web process died: libvirtd aborted its
    stream with the connection, and a download changes nothing."""
    volume = Volume.objects.filter(pk=op.target_id).first()
    return f"Nothing was changed: volume {volume.name} is as it was." if volume else ""
