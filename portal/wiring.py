"""What portal registers when Django starts (PortalConfig.ready imports this module once the
app registry is loaded, so it may import models at the top): system checks, signal receivers,
the API token scheme, websocket groups, the reaper's beat entry, resumable operations."""

from django.conf import settings

from portal import checks, leases, realtime, signals  # noqa: F401  (registers checks and signals)
from portal.api import schema  # noqa: F401  (registers the token scheme with drf-spectacular)
from portal.celery import app
from portal.models import Operation, Project


def ready():
    realtime.register("operation", lambda user: Operation.objects.visible_to(user))
    realtime.register("project", lambda user: Project.objects.visible_to(user))
    app.conf.beat_schedule = {
        **(app.conf.beat_schedule or {}),
        "portal-reap-operations": {
            "task": "portal.tasks.reap_operations",
            "schedule": float(settings.NUBES_REAPER_INTERVAL),
        },
    }
    leases.register("project.recount_quota", resumable=True)  # counts again from scratch
