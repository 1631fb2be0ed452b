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
