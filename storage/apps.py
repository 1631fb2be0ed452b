from django.apps import AppConfig


class StorageConfig(AppConfig):
    name = "storage"

    def ready(self):
        # Imported here, not at the top: storage.wiring imports models, which Django allows
        # only once the app registry is loaded.
        from storage import wiring

        wiring.ready()
