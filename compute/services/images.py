"""Putting data into an image: a streamed upload (the request body, or the browser form's file
as it arrives, stored while the request lasts), an import from an http(s) URL that the worker
running the task fetches (Glance's web-download: works wherever the workers run), or an import
from a path (staff, inside the allowed roots, read by the worker running the task: one machine). The work itself is the image store's steps
(compute.tasks.images). And making an image from an instance's root disk (Nova's createImage,
any member of the instance's project; the copy is compute.tasks.capture's task).
"""

import uuid

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.db.models.deletion import Collector

from compute import hooks
from compute.choices import Action, EventSource, ImageFormat, ImageState, Visibility
from compute.domain import record_event
from compute.models import Image
from compute.services import metadata
from compute.services.instances import guard
from compute.tasks import capture
from compute.tasks import images as image_tasks
from compute.tasks.images import CHUNK, check_import_url, receive, resolve_import_path
from portal import audit, leases, operations, quotas
from portal.errors import ActionError, Conflict, NotPermitted
from portal.models import Quota
from portal.streaming import body_pieces

UPLOADABLE_STATES = (ImageState.QUEUED, ImageState.ERROR)


def _check_uploadable(user, image):
    if not user.is_staff:
        raise NotPermitted("Only cloud admins put data into images.")
    if image.state not in UPLOADABLE_STATES:
        raise Conflict(f"Image {image.name} is {image.state}; data goes only into a queued (or failed) image.")


def upload(user, image, stream, *, length=None, request=None):
    """Stream the request body into the image inside this request; returns the finished Operation."""
    _check_uploadable(user, image)
    with transaction.atomic():
        op = operations.begin("image.upload", image, user=user, project=image.project, detail={"bytes": length})
    # under a lease this process renews: if it dies mid-way the reaper ends the Operation and
    # its settle hook (compute.tasks.images.settle_lost_upload) removes the partial data
    with leases.held_here(op) as op:
        try:
            message = receive(image, body_pieces(stream, CHUNK), op, total=length)
        except ActionError as exc:
            operations.fail(op, exc)
            audit.record(user, "image.upload", image, request=request, result="failed")
            return op
        operations.succeed(op, message)
    audit.record(user, "image.upload", image, request=request, result="succeeded")
    return op


def upload_file(user, image, uploaded, request=None):
    """The HTML form's upload: the browser's file (read as it arrives, portal.form_uploads) is
    stored while the request lasts, like the API's upload; returns the finished Operation."""

    return upload(user, image, uploaded, length=uploaded.size, request=request)


def import_from_path(user, image, path, request=None):
    """Queue the copy of a file on the portal's machine into the image (an Operation)."""

    _check_uploadable(user, image)
    real = resolve_import_path(path)
    with transaction.atomic():
        op = operations.begin("image.import", image, user=user, project=image.project, detail={"path": str(real)})
        operations.send_after_commit(image_tasks.import_image, op)
    audit.record(user, "image.import", image, request=request, path=str(real))
    return op


def import_from_url(user, image, url, request=None):
    """Queue the fetch of an http(s) URL into the image (an Operation); whichever worker runs
    it reads the URL and streams it into the image's pool on its home host."""

    _check_uploadable(user, image)
    check_import_url(url)
    with transaction.atomic():
        op = operations.begin("image.import", image, user=user, project=image.project, detail={"url": url})
        operations.send_after_commit(image_tasks.import_image, op)
    audit.record(user, "image.import", image, request=request, url=url)
    return op


def in_use_by(image):
    """What still uses the image: live instances made from it (a linked clone's disk rests on its
    volume), service templates, and other apps' linked clones (compute.hooks). A deleted
    instance's record does not: it loses its image (as Nova's keeps only an id Glance forgot)."""
    users = hooks.image_users(image)
    users += [f"instance {name}" for name in image.instances.live().values_list("name", flat=True)]
    try:
        Collector(using="default").collect([image])
    except ProtectedError as exc:
        users += [f"{obj._meta.verbose_name} {obj}" for obj in exc.protected_objects]
    return sorted(set(users))


def delete(user, image, request=None):
    """Queue the image's removal (an Operation, compute.tasks.images.delete_image): its volume
    on every host serving its pool, its file in the image store, then its row. Refused (409)
    while anything uses it: a linked clone's backing file cannot go from under it, as Glance
    answers 409 for an image its store still clones. The image is out of service meanwhile."""
    if image.state == ImageState.SAVING:
        raise Conflict(f"Image {image.name} is being saved; delete it once it is active or failed.")
    users = in_use_by(image)
    if users:
        raise Conflict(f"Image {image.name} is in use by {', '.join(users[:5])}; delete those first.")
    with transaction.atomic():
        op = operations.begin("image.delete", image, user=user, project=image.project)
        Image.objects.filter(pk=image.pk).update(
            state=ImageState.ERROR, state_reason=f"Being deleted (operation {op.pk})."
        )
        operations.send_after_commit(image_tasks.delete_image, op)
    audit.record(user, "image.delete", image, request=request)
    return op


def create_from_instance(user, instance, name, properties=None, request=None):
    """A new private image of the instance's project, made from its root disk in a task
    (queued, then saving, then active); takes one of the project's images quota. Returns
    (image, Operation); the Operation is the instance's (it is busy meanwhile)."""
    guard(user, instance, Action.CREATE_IMAGE)
    if instance.host is None:
        raise Conflict(f"Instance {instance.name} has no host: it has no disk to make an image of.")
    hooks.check_root_disk(instance, "make an image of")
    properties = metadata.validate(properties or {})
    metadata.check_count(properties)
    if Image.objects.filter(project=instance.project, name=name).exists():
        raise Conflict(f"The project has an image named {name} already.")
    image = Image(
        name=name,
        format=ImageFormat.QCOW2,
        visibility=Visibility.PROJECT,
        project=instance.project,
        pool=capture.root_file(instance)[0],  # the copy is made beside the root disk
        volume=f"image-{uuid.uuid4().hex[:16]}.qcow2",
        virtual_size_gb=instance.disk_gb,
        min_disk_gb=instance.disk_gb,
        min_ram_mb=instance.image.min_ram_mb,
        os_type=instance.image.os_type,
        # a kernel-boot instance's image boots the same kernel (Nova copies kernel_id / ramdisk_id)
        kernel_path=instance.image.kernel_path,
        initrd_path=instance.image.initrd_path,
        kernel_cmdline=instance.image.kernel_cmdline,
        state=ImageState.QUEUED,
        instance_uuid=instance.uuid,
        properties=properties,
    )
    try:
        image.full_clean()
    except ValidationError as exc:
        raise ActionError(" ".join(exc.messages), field="name") from exc
    Quota.ensure_defaults(instance.project)
    with transaction.atomic():
        quotas.take(instance.project, images=1)
        image.save()
        op = operations.begin(
            capture.OPERATION_KIND,
            instance,
            user=user,
            project=instance.project,
            detail={"image": image.pk, "image_name": name},
        )
        record_event(instance, EventSource.ACTION, Action.CREATE_IMAGE, f"image={name}", op)
        operations.dispatch(capture.create_image, op)
    audit.record(user, "instance.create_image", instance, request=request, image=image.pk, image_name=name)
    return image, op
