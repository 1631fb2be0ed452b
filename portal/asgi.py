"""HTTP and websockets. Websockets pass origin validation (portal.origins) and session auth."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_asgi = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from portal.origins import SiteOriginValidator  # noqa: E402
from portal.routing import websocket_urlpatterns  # noqa: E402


def websocket_routes():
    """Every app's routes; apps that have none yet simply contribute nothing."""
    import importlib

    routes = list(websocket_urlpatterns)
    for app in ("compute", "storage", "network", "scheduler"):
        try:
            module = importlib.import_module(f"{app}.routing")
        except ModuleNotFoundError:
            continue
        routes += getattr(module, "websocket_urlpatterns", [])
    return routes


application = ProtocolTypeRouter(
    {
        "http": django_asgi,
        "websocket": SiteOriginValidator(AuthMiddlewareStack(URLRouter(websocket_routes()))),
    }
)
