"""Image v2 (Glance), read-only: the images a project may launch (public ones and its own)."""

from compute.choices import BYTES_PER_GIB, ImageState, Visibility
from compute.models import Image
from openstack_api.base import OsError, iso, paginate, reply
from openstack_api.catalog import base_url

STATUS = {ImageState.QUEUED: "queued", ImageState.SAVING: "importing", ImageState.ACTIVE: "active"}


def versions(request):
    entry = {"id": "v2.9", "status": "CURRENT", "links": [{"rel": "self", "href": base_url(request) + "image/v2/"}]}
    return reply({"versions": [entry]})


def _images(request):
    return Image.objects.usable_in(request.os_project).order_by("name", "id")


def image_body(image):
    return {
        "id": str(image.pk),
        "name": image.name,
        "status": STATUS.get(image.state, "killed"),
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


def image_show(request, image_id):
    image = _images(request).filter(pk=image_id).first() if image_id.isdigit() else None
    if image is None:
        raise OsError(404, f"No image found with ID {image_id}")
    return reply(image_body(image))
