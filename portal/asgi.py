"""HTTP and websockets. Websockets pass origin validation (portal.origins) and session auth; raw
uploads stream into their views (portal.streaming)."""

import gc
import importlib
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.apps import apps  # noqa: E402
from django.utils.module_loading import module_has_submodule  # noqa: E402

from portal.env import gc_thresholds  # noqa: E402
from portal.origins import SiteOriginValidator  # noqa: E402
from portal.routing import websocket_urlpatterns  # noqa: E402
from portal.streaming import StreamingASGIHandler  # noqa: E402

django_asgi = StreamingASGIHandler()


def websocket_routes():
    """Every installed app's routes (<app>/routing.py); portal names no app."""
    routes = list(websocket_urlpatterns)
    for config in apps.get_app_configs():
        if config.name != "portal" and module_has_submodule(config.module, "routing"):
            module = importlib.import_module(f"{config.name}.routing")
            routes += getattr(module, "websocket_urlpatterns", [])
    return routes


application = ProtocolTypeRouter(
    {
        "http": django_asgi,
        "websocket": SiteOriginValidator(AuthMiddlewareStack(URLRouter(websocket_routes()))),
    }
)

# The web process's collector (NUBES_GC_THRESHOLDS, "700,10,10" style; unset: Python's defaults).
thresholds = gc_thresholds("NUBES_GC_THRESHOLDS")
if thresholds:
    gc.set_threshold(*thresholds)
