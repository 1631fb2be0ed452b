"""Image v2 (Glance): the images a project may launch (public ones and its own), their data
download, and for cloud admins (Nubes' rule: tenants launch from the catalog) create, data
upload (PUT, streamed through compute.services.images), the interoperable import's
``web-download`` (a URL a worker fetches) and delete. Images a project made from its
servers (Nova's createImage) its members delete too."""

import re
import uuid

from django.http import FileResponse

from compute.choices import BYTES_PER_GIB, ImageFormat, ImageState, Visibility
from compute.models import Image
from compute.services import images as services
from openstack_api.base import OsError, body_of, iso, paginate, reply, require_write
from openstack_api.catalog import base_url
from portal import audit
from portal.api.base import content_length
from portal.choices import OperationStatus

STATUS = {ImageState.QUEUED: "queued", ImageState.SAVING: "importing", ImageState.ACTIVE: "active"}


def versions(request):
    entry = {"id": "v2.9", "status": "CURRENT", "links": [{"rel": "self", "href": base_url(request) + "image/v2/"}]}
    return reply({"versions": [entry]})


def _images(request):
    return Image.objects.usable_in(request.os_project).order_by("name", "id")


def image_body(image):
    snapshot = image.instance_uuid is not None
    status = "saving" if snapshot and image.state == ImageState.SAVING else STATUS.get(image.state, "killed")
    extra = {"image_type": "snapshot", "instance_uuid": str(image.instance_uuid)} if snapshot else {}
    return {
        **image.properties,
        **extra,
        "id": str(image.pk),
        "name": image.name,
        "status": status,
        "visibility": "public" if image.visibility == Visibility.PUBLIC else "private",
        "protected": False,
        "os_hidden": False,
        "owner": str(image.project_id) if image.project_id else None,
        "disk_format": image.format,
        "container_format": "bare",
        "size": image.size_bytes or None,
        "virtual_size": image.virtual_size_gb * BYTES_PER_GIB,
        "checksum": None,
        "os_hash_algo": "sha256" if image.checksum_sha256 else None,
        "os_hash_value": image.checksum_sha256 or None,
        "min_disk": image.min_disk_gb,
        "min_ram": image.min_ram_mb,
        "os_type": image.os_type,
        "tags": [],
        "created_at": iso(image.created),
        "updated_at": iso(image.created),
        "self": f"/v2/images/{image.pk}",
        "file": f"/v2/images/{image.pk}/file",
        "schema": "/v2/schemas/image",
    }


def image_list(request):
    images = list(_images(request))
    filters = {"name": lambda i: i.name, "status": lambda i: image_body(i)["status"]}
    filters["visibility"] = lambda i: image_body(i)["visibility"]
    for name, value_of in filters.items():
        wanted = request.GET.get(name)
        if wanted and not (name == "visibility" and wanted == "all"):
            images = [i for i in images if value_of(i) == wanted]
    if request.GET.get("owner"):
        images = [i for i in images if str(i.project_id) == request.GET["owner"]]
    images = paginate(images, request)
    return reply({"images": [image_body(i) for i in images], "first": "/v2/images", "schema": "/v2/schemas/images"})


def _image(request, image_id):
    image = _images(request).filter(pk=image_id).first() if image_id.isdigit() else None
    if image is None:
        raise OsError(404, f"No image found with ID {image_id}")
    return image


def image_show(request, image_id):
    return reply(image_body(_image(request, image_id)))


def _cloud_admin(request, what):
    if not request.user.is_staff:
        raise OsError(403, f"Only cloud admins {what}: tenants launch from the catalog.")


CREATE_FIELDS = {"name", "disk_format", "container_format", "visibility", "min_disk", "min_ram", "tags"}
IGNORED_PROPERTY = re.compile(r"owner_specified\.openstack\.(md5|sha256|object)")  # what openstacksdk adds


def image_create(request):
    _cloud_admin(request, "add images")
    data = body_of(request)
    unknown = sorted(k for k in set(data) - CREATE_FIELDS if not IGNORED_PROPERTY.fullmatch(k))
    if unknown:
        raise OsError(400, f"Nubes does not store image properties: {', '.join(unknown)}.")
    if data.get("container_format", "bare") != "bare":
        raise OsError(400, "container_format must be bare (Nubes stores disk images only).")
    disk_format = data.get("disk_format") or ImageFormat.QCOW2
    if disk_format not in ImageFormat.values:
        raise OsError(400, f"disk_format is one of {', '.join(ImageFormat.values)}.")
    visibility = data.get("visibility", "shared")
    if visibility not in ("public", "private", "shared"):
        raise OsError(400, f"visibility {visibility!r}: Nubes has public and project (private) images only.")
    if data.get("tags"):
        raise OsError(400, "Nubes does not store image tags.")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise OsError(400, "An image needs a name.")
    public = visibility == "public"
    image = Image(
        name=name,
        format=disk_format,
        visibility=Visibility.PUBLIC if public else Visibility.PROJECT,
        project=None if public else request.os_project,
        volume=f"image-{uuid.uuid4().hex[:16]}.{disk_format}",  # its volume if it goes to a pool
        min_disk_gb=_whole(data, "min_disk"),
        min_ram_mb=_whole(data, "min_ram"),
        state=ImageState.QUEUED,
    )
    image.full_clean()
    image.save()
    audit.record(request.user, "image.create", image, request=request)
    return reply(image_body(image), status=201, headers={"Location": f"/v2/images/{image.pk}"})


def _whole(data, key):
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise OsError(400, f"{key} is a non-negative integer.")
    return value


def image_delete(request, image_id):
    image = _image(request, image_id)
    if image.instance_uuid is not None and image.project_id == request.os_project.pk and not request.user.is_staff:
        require_write(request, "images")  # the project's own image of a server
    else:
        _cloud_admin(request, "delete images")
    services.delete(request.user, image, request=request)  # its data on every host, in a task; 409 in use
    return reply(None, status=204)  # Glance answers 204; the image is gone from lists once the task ran


def image_data(request, image_id):
    """PUT streams the body in (compute.services.images.upload); GET streams the data out of
    the portal's image store. Data kept only in a host's pool is not served here."""
    image = _image(request, image_id)
    if request.method == "PUT":
        _cloud_admin(request, "upload image data")
        op = services.upload(request.user, image, request, length=content_length(request) or None, request=request)
        if op.status != OperationStatus.SUCCEEDED:
            raise OsError(400, op.error or op.message or "The upload was refused.")
        return reply(None, status=204)
    if image.state == ImageState.QUEUED:
        return reply(None, status=204)  # Glance: an image without data yet
    if not image.file_path:
        raise OsError(
            501,
            "Nubes serves image data from the portal's image store only; this image's data lives in a host's storage pool.",
        )
    try:
        data = open(image.file_path, "rb")  # noqa: SIM115 - FileResponse closes it
    except FileNotFoundError as exc:
        raise OsError(410, "The image's data is gone from the image store.") from exc
    response = FileResponse(data, content_type="application/octet-stream")
    response["Content-Length"] = str(image.size_bytes)
    return response


IMPORT_METHODS = ("web-download",)


def import_info(request):
    """GET /v2/info/import: the import methods offered (Glance's discovery)."""
    methods = {"description": "Import methods available.", "type": "array", "value": list(IMPORT_METHODS)}
    return reply({"import-methods": methods})


def image_import(request, image_id):
    """POST /v2/images/{id}/import with method web-download: the URL is fetched by the worker
    that runs the task (compute.services.images.import_from_url); 202, as Glance answers."""
    image = _image(request, image_id)
    _cloud_admin(request, "import image data")
    method = body_of(request).get("method")
    name = method.get("name") if isinstance(method, dict) else None
    if name not in IMPORT_METHODS:
        raise OsError(400, f"Import method {name!r}: Nubes offers {', '.join(IMPORT_METHODS)}.")
    uri = method.get("uri")
    if not isinstance(uri, str) or not uri:
        raise OsError(400, "web-download needs a uri.")
    services.import_from_url(request.user, image, uri, request=request)
    return reply(None, status=202)
