"""network's card on the dashboard: the user's networks, and the control plane behind them (the
embedded default's own Northbound says it has no data plane)."""

from django.urls import reverse

from network import backends
from network.models import Network
from portal.ui import register_card


def networks_card(request):
    if request.user.is_anonymous:
        return None
    backend = backends.configured()
    return {
        "title": "Networks",
        "value": Network.objects.visible_to(request.user).count(),
        "detail": backend.note or backend.label,
        "url": reverse("network:index"),
    }


register_card(networks_card)
