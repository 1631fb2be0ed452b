"""Cloud-admin pages of the catalog and the hosts: images (create, upload, import) and host
PCI / SR-IOV devices (register, assign). Forms show their errors; long work is an Operation the
page follows over the websocket (data-operation rows)."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from compute.forms import DeviceAssignForm, HostDeviceForm, ImageForm, ImageImportForm, ImageUploadForm
from compute.models import Host, HostDevice, Image
from compute.models.devices import PASSTHROUGH_NOTE
from compute.services import images
from portal import audit
from portal.choices import OperationStatus
from portal.errors import ActionError
from portal.form_uploads import streamed_form_upload
from portal.models import Operation
from portal.operations import TargetBusy

RECENT = 20
BAD_REQUEST = 400


@staff_member_required
def image_create(request):
    form = ImageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        image = form.save()
        audit.record(request.user, "image.create", image, request=request)
        messages.success(request, f"Image {image.name} created; upload or import its data.")
        return redirect("compute:image-detail", pk=image.pk)
    return render(request, "compute/image_create.html", {"form": form}, status=BAD_REQUEST if form.errors else 200)


def _image_page(request, image, upload_form=None, import_form=None, status=200):
    context = {
        "image": image,
        "upload_form": upload_form or ImageUploadForm(),
        "import_form": import_form or ImageImportForm(),
        "operations": Operation.objects.filter(target_type="compute.image", target_id=str(image.pk)).select_related(
            "requester"
        )[:RECENT],
    }
    return render(request, "compute/image_detail.html", context, status=status)


@staff_member_required
def image_detail(request, pk):
    return _image_page(request, get_object_or_404(Image, pk=pk))


def _refused(form, exc):
    field = getattr(exc, "field", None)
    form.add_error(field if field in form.fields else None, str(exc))


def _start_on_image(request, pk, form, start, form_key, done):
    """Validate ``form``, call ``start(user, image, cleaned_data, request)`` -> Operation and go
    back to the image page, or show the page again with the refusal on the form."""
    image = get_object_or_404(Image, pk=pk)
    if form.is_valid():
        try:
            op = start(request.user, image, form.cleaned_data, request)
        except (ActionError, TargetBusy) as exc:
            _refused(form, exc)
        else:
            messages.info(request, f"{done} (operation {op.pk}).")
            return redirect("compute:image-detail", pk=image.pk)
    return _image_page(request, image, status=BAD_REQUEST, **{form_key: form})


def _upload_file(user, image, data, request):
    """The file, read as the browser sends it, stored in this request; refused data (a bad
    header, a checksum mismatch, a cut-off body) is the form's error, nothing of it kept."""
    op = images.upload_file(user, image, data["file"], request)
    if op.status != OperationStatus.SUCCEEDED:
        raise ActionError(f"{op.error or op.message} (operation {op.pk})", field="file")
    return op


@streamed_form_upload
@staff_member_required
@require_POST
def image_upload(request, pk):
    return _start_on_image(
        request, pk, ImageUploadForm(request.POST, request.FILES), _upload_file, "upload_form", "Uploaded"
    )


@staff_member_required
@require_POST
def image_delete(request, pk):
    """Start the image's delete (its data on every host, then the row) and go to the images list;
    a refusal (in use, being saved, busy) is the page's message."""
    image = get_object_or_404(Image, pk=pk)
    try:
        op = images.delete(request.user, image, request=request)
    except (ActionError, TargetBusy) as exc:
        messages.error(request, str(exc))
        return redirect("compute:image-detail", pk=image.pk)
    messages.info(request, f"Deleting image {image.name} (operation {op.pk}).")
    return redirect("compute:images")


@staff_member_required
@require_POST
def image_import(request, pk):
    return _start_on_image(
        request,
        pk,
        ImageImportForm(request.POST),
        lambda user, image, data, req: (
            images.import_from_url(user, image, data["url"], req)
            if data["url"]
            else images.import_from_path(user, image, data["path"], req)
        ),
        "import_form",
        "Import queued",
    )


@staff_member_required
def host_devices(request, pk):
    host = get_object_or_404(Host, pk=pk)
    form = HostDeviceForm(request.POST or None, host=host)
    if request.method == "POST" and form.is_valid():
        device = form.save()
        audit.record(request.user, "host_device.create", device, request=request)
        messages.success(request, f"Device {device.pci_address} registered on {host.name}.")
        return redirect("compute:host-devices", pk=host.pk)
    devices = [
        (device, DeviceAssignForm(instance=device, prefix=f"d{device.pk}"))
        for device in host.devices.select_related("instance")
    ]
    return render(
        request,
        "compute/host_devices.html",
        {"host": host, "form": form, "devices": devices, "note": PASSTHROUGH_NOTE},
        status=BAD_REQUEST if form.errors else 200,
    )


@staff_member_required
@require_POST
def host_device_assign(request, pk):
    device = get_object_or_404(HostDevice.objects.select_related("host"), pk=pk)
    form = DeviceAssignForm(request.POST, instance=device, prefix=f"d{device.pk}")
    if form.is_valid():
        device = form.save()
        audit.record(request.user, "host_device.assign", device, request=request, instance=device.instance_id)
        target = device.instance.name if device.instance else "nobody"
        messages.success(
            request, f"{device.pci_address} assigned to {target}; it takes effect when the domain is next defined."
        )
    else:
        messages.error(request, "; ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect("compute:host-devices", pk=device.host_id)
