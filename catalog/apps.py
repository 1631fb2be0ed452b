from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Service catalog"

    def ready(self):
        # Imported here: wiring imports models, which Django allows once the registry is loaded.
        from catalog import wiring

        wiring.ready()
