"""Volume data in and out, with progress on the Operation.

Upload: the request body was spooled to a file on the portal's machine (services); this task
streams it into the volume through virStorageVolUpload, then removes the spool file.
Download: a generator the API's streaming response iterates; it runs in the request, because
the bytes go to that client, and records progress and the outcome on its Operation."""

import logging
import os

from celery import shared_task

import hypervisor as hv
from portal import operations
from portal.choices import OperationStatus
from portal.errors import Conflict
from portal.tasks import run_operation
from storage.models import Volume
from storage.services.volumes import volume_host

CHUNK = 1 << 20
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


def _spooled(path):
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk


@shared_task(bind=True, name="storage.stream_tasks.upload_volume")
def upload_volume(self, op_id):
    def work(op):
        volume = Volume.objects.select_related("pool", "instance__host").get(pk=op.target_id)
        spool, size = op.detail["spool"], op.detail["size"]
        host = volume_host(volume)
        try:
            result = hv.volume_upload_into(
                host.uri,
                volume.pool.libvirt_name,
                volume.libvirt_name,
                _spooled(spool),
                size,
                on_progress=ProgressEvery(op, "Uploaded"),
            )
            info = hv.volume_info(host.uri, volume.pool.libvirt_name, volume.libvirt_name)
        except hv.HypervisorError as exc:
            Volume.objects.filter(pk=volume.pk).update(state=op.detail["state"], state_reason=str(exc)[:500])
            raise
        finally:
            if os.path.exists(spool):
                os.remove(spool)
        Volume.objects.filter(pk=volume.pk).update(
            state=op.detail["state"], state_reason="", allocation_bytes=info.allocation_bytes
        )
        return f"Uploaded {result.bytes_moved >> 20} MiB into {volume.name}" + (
            " (simulated)" if result.simulated else ""
        )

    return run_operation(op_id, work, self.request.id or "")


def download_size(volume):
    try:
        return hv.volume_download_size(volume_host(volume).uri, volume.pool.libvirt_name, volume.libvirt_name)
    except hv.HypervisorError as exc:
        # libvirt's message names hosts and paths, which tenants do not see: logged, not answered.
        logger.warning("download of volume %s refused: %s", volume.pk, exc)
        raise Conflict(f"Volume {volume.name} cannot be read from its host now; try again later.") from exc


def download_chunks(op, volume):
    """The volume's file for the response; the Operation ends succeeded, or failed when the
    stream broke or the client went away before the end."""
    host = volume_host(volume)
    operations.mark_running(op)
    sent, done = 0, False
    try:
        for chunk in hv.volume_download(
            host.uri, volume.pool.libvirt_name, volume.libvirt_name, on_progress=ProgressEvery(op, "Downloaded")
        ):
            sent += len(chunk)
            yield chunk
        done = True
    except hv.HypervisorError as exc:
        operations.fail(op, exc)
        raise
    finally:
        if done:
            operations.succeed(
                op,
                f"Downloaded {sent >> 20} MiB of {volume.name}" + (" (simulated)" if host.simulated else ""),
                bytes=sent,
            )
        elif op.status == OperationStatus.RUNNING:
            operations.fail(op, f"The download stopped after {sent} bytes (the client went away)")
