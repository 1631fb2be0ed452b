from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Nubes platform"

    def ready(self):
        # Imported here, not at the top: portal.wiring imports models, which Django allows
        # only once the app registry is loaded.
        from portal import wiring

        wiring.ready()
