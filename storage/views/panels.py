"""storage's card on an instance's page (compute.hooks.register_instance_panel): its disks, the
root disk first, then the attached volumes with size, device and bus, and its snapshots."""

from django.template.loader import render_to_string

from compute.domain import DISK_TARGETS
from storage.models import Snapshot, Volume

PANEL_FIELDS = ("name", "readonly", "shareable", "size_gb", "target_dev", "bus", "state")


def instance_volumes_panel(request, instance):
    volumes = (
        Volume.objects.visible_to(request.user)
        .filter(instance=instance)
        .select_related("pool")
        .only(*PANEL_FIELDS, "pool__name")  # what the card shows: half the columns' cost
    )
    context = {
        "instance": instance,
        "root_dev": DISK_TARGETS[instance.flavor.disk_bus],
        "root_bus": instance.flavor.get_disk_bus_display(),
        "volumes": volumes.order_by("target_dev", "pk"),
        "snapshots": Snapshot.objects.filter(instance=instance).count(),
    }
    return render_to_string("storage/_instance_volumes.html", context, request=request)
