from django.apps import AppConfig


class ComputeConfig(AppConfig):
    name = "compute"
    verbose_name = "Compute"

    def ready(self):
        # Imported here, not at the top: compute.wiring imports models, which Django allows
        # only once the app registry is loaded.
        from compute import wiring

        wiring.ready()
