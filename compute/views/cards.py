"""The compute card on the dashboard."""

from django.urls import reverse

from compute.models import Instance
from portal.ui import register_card


def instances_card(request):
    if request.user.is_anonymous:
        return None
    instances = Instance.objects.visible_to(request.user).live()
    running = instances.filter(state="active").count()
    return {
        "title": "Instances",
        "value": instances.count(),
        "detail": f"{running} running",
        "url": reverse("compute:instances"),
    }


register_card(instances_card)
