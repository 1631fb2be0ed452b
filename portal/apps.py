from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Nubes platform"

    def ready(self):
        from portal import checks, realtime, signals  # noqa: F401  (registers checks and signals)
        from portal.api import schema  # noqa: F401  (registers the token scheme with drf-spectacular)
        from portal.models import Operation, Project

        realtime.register("operation", lambda user: Operation.objects.visible_to(user))
        realtime.register("project", lambda user: Project.objects.visible_to(user))
        _schedule_reaper()
        from portal import leases

        leases.register("project.recount_quota", resumable=True)  # counts again from scratch


def _schedule_reaper():
    from django.conf import settings

    from portal.celery import app

    app.conf.beat_schedule = {
        **(app.conf.beat_schedule or {}),
        "portal-reap-operations": {
            "task": "portal.tasks.reap_operations",
            "schedule": float(settings.NUBES_REAPER_INTERVAL),
        },
    }
