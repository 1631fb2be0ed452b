"""Making an image from an instance's root disk (Nova's createImage): the task and its steps.

The root disk (the top of its chain when storage keeps external snapshots) is copied whole,
its backing chain flattened, into a new qcow2 volume beside it, on the instance's host and
over its libvirt connection (the same for a local and a remote host): a running or paused
domain mirrors the disk into it (a block copy, cancelled once in sync, so the guest keeps its
disk and the copy is the disk at that moment, crash-consistent), a stopped or suspended one
is cloned by libvirt (qemu-img convert on the host). The copy then becomes the image's data
where uploaded images live (compute.tasks.images): left as the image's volume when its host
is the image's home host or shares the pool with it, streamed to the home host's pool when
another real host is, or into the portal's image store when no real host serves the pool. Simulated hosts keep the copy as
the image's (dataless) volume. Any failure removes the copy and the image row (its quota goes
back with it): no half image is left.
"""

import time

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

import hypervisor as hv
from compute import domain, hooks
from compute.choices import EventSource, ImageFormat, ImageState, PowerState
from compute.domain import DISK_TARGETS
from compute.models import Image, Instance
from compute.tasks.images import activate, home_host, receive
from portal import operations
from portal.tasks import LONG_JOB, Cancelled, check_cancel, run_operation

OPERATION_KIND = "instance.create_image"
COPY_SHARE = 70  # % of the Operation the copy on the instance's host takes; the move the rest
DEFAULT_POLL_S = 1.0
LIVE_STATES = (PowerState.RUNNING, PowerState.PAUSED)


def poll_s():
    return float(getattr(settings, "NUBES_BLOCKJOB_POLL_S", DEFAULT_POLL_S))


def root_file(instance):
    """(pool, volume name) of the root disk's active file."""
    return hooks.root_disk_files(instance, ((instance.image.pool, instance.root_volume),))[0]


def _mirror(instance, op, pool, source, scratch):
    """Mirror the running disk into the new volume ``scratch``, then cancel the job: the copy
    keeps the disk as it was when the mirror reached sync, the guest keeps its own file."""
    uri, uuid, dev = instance.host.uri, str(instance.uuid), DISK_TARGETS[instance.flavor.disk_bus]
    capacity = hv.volume_info(uri, pool, source).capacity_bytes
    dest = hv.volume_create(uri, pool, scratch, capacity, "qcow2")
    hv.block_copy(uri, uuid, dev, dest.path, fmt="qcow2")
    try:
        while True:
            job = hv.block_job(uri, uuid, dev)
            if job is None:
                raise hv.OperationFailed(f"the copy of {dev} ended before it was in sync", uri=uri)
            operations.progress(
                op,
                5 + job.percent * (COPY_SHARE - 5) // 100,
                f"Copying the root disk (live): {job.cur >> 20} of {job.end >> 20} MiB"
                + (" (simulated)" if job.simulated else ""),
            )
            if job.ready:
                break
            check_cancel(op)
            time.sleep(poll_s())
    finally:
        # In sync or not, the job ends here and the guest stays on its own disk.
        try:
            hv.block_job_abort(uri, uuid, dev)
        except hv.HypervisorError:
            pass  # no job left (it failed on its own): the error raised above is the one to report
    return "live, a mirror of the running disk"


def _clone(instance, op, pool, source, scratch):
    operations.progress(op, 5, "Copying the root disk (the instance is not running)")
    hv.volume_copy(instance.host.uri, pool, source, pool, scratch, fmt="qcow2")
    return "from the stopped disk"


def _place(instance, image, op, pool, scratch):
    """Make the copy the image's data; returns where it went. The copy on the instance's host
    is removed unless it is the image's volume now."""
    host, uri = instance.host, instance.host.uri
    home = home_host(image)
    info = hv.volume_info(uri, pool, scratch)
    if host.simulated or (home is not None and home.pk == host.pk):
        activate(image, ImageFormat.QCOW2, info.allocation_bytes or info.capacity_bytes, "", info.capacity_bytes, "")
        return f"volume {scratch} in pool {pool} on {host.name}" + (" (simulated)" if host.simulated else "")
    if home is not None and hooks.pool_shared(pool, host, home):
        # one storage both hosts see: the copy is in the home host's pool already
        hv.pool_refresh(home.uri, pool)
        info = hv.volume_info(home.uri, pool, scratch)
        activate(image, ImageFormat.QCOW2, info.allocation_bytes or info.capacity_bytes, "", info.capacity_bytes, "")
        return f"volume {scratch} in pool {pool} (shared by {host.name} and {home.name})"
    operations.progress(op, COPY_SHARE, f"Moving the copy to {home.name if home else 'the image store'}")
    if home is not None:
        moved = hv.volume_copy_across(uri, pool, scratch, home.uri, image.pool)
        activate(image, ImageFormat.QCOW2, moved.bytes_sent, "", moved.volume.capacity_bytes, "")
        where = f"volume {scratch} in pool {image.pool} on {home.name}"
    else:
        total = hv.volume_download_size(uri, pool, scratch)
        receive(image, hv.volume_download(uri, pool, scratch), op, total=total)
        where = "the portal's image store"
    hv.volume_delete(uri, pool, scratch)
    return where


def capture(instance, image, op):
    """Copy the instance's root disk into the image; returns the Operation's message."""
    pool, source = root_file(instance)
    Image.objects.filter(pk=image.pk).update(state=ImageState.SAVING, state_reason="")
    live = hv.domain_state(instance.host.uri, str(instance.uuid)).state in LIVE_STATES
    how = (_mirror if live else _clone)(instance, op, pool, source, image.volume)
    where = _place(instance, image, op, pool, image.volume)
    image.refresh_from_db()
    return f"Image {image.name} made from {instance.name} ({how}): {image.size_bytes} bytes in {where}"


def discard(instance, image, pool):
    """Remove what a failed capture made: the copy wherever it may be and the image row (its
    quota goes back with it, compute.signals). Returns what could not be removed."""
    left = []
    places = [(instance.host, pool)]
    home = home_host(image)
    if home is not None and home.pk != instance.host.pk and not hooks.pool_shared(pool, instance.host, home):
        places.append((home, image.pool))
    for host, where in places:
        try:
            hv.volume_delete(host.uri, where, image.volume)
        except (hv.VolumeNotFound, hv.PoolNotFound):
            continue
        except hv.HypervisorError as exc:
            left.append(f"volume {image.volume} in pool {where} on {host.name}: {exc}")
    Image.objects.filter(pk=image.pk).delete()
    return left


def _load(op):
    instance = Instance.objects.select_related("host", "flavor", "image", "project").get(pk=op.target_id)
    return instance, Image.objects.filter(pk=op.detail["image"]).first()


def run(op):
    instance, image = _load(op)
    if image is None:
        raise hv.OperationFailed("the image was deleted before its data was made")
    pool = root_file(instance)[0]
    try:
        message = capture(instance, image, op)
    except (Exception, Cancelled, SoftTimeLimitExceeded) as exc:
        left = discard(instance, image, pool)
        detail = f"{exc}" + (f"; could not remove: {'; '.join(left)}" if left else "; nothing of it was kept")
        domain.record_event(instance, EventSource.ACTION, "create image failed", detail[:500], op)
        raise
    domain.record_event(instance, EventSource.ACTION, "create image done", message[:500], op)
    return message


def settle_lost(op):
    """The reaper's settle hook (portal.leases) for a capture whose worker died: cancel a mirror
    still running, remove the copy and the image (its quota back). Raises when the host does
    not answer, so the reaper asks again next round."""
    instance, image = _load(op)
    if image is None or image.state == ImageState.ACTIVE:
        return ""
    hv.host_ping(instance.host.uri)
    dev = DISK_TARGETS[instance.flavor.disk_bus]
    if hv.block_job(instance.host.uri, str(instance.uuid), dev) is not None:
        hv.block_job_abort(instance.host.uri, str(instance.uuid), dev)
    left = discard(instance, image, root_file(instance)[0])
    reason = "The image was not made (its worker was lost)" + (f"; left: {'; '.join(left)}" if left else "")
    domain.record_event(instance, EventSource.ACTION, "create image failed", reason[:500], op)
    return reason


@shared_task(bind=True, **LONG_JOB, name="compute.tasks.create_image")
def create_image(self, op_id):
    """Copy an instance's root disk into a new image (compute.services.images.create_from_instance)."""
    return run_operation(op_id, run, self.request.id or "")
