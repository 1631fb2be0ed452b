from django.apps import AppConfig


class NetworkConfig(AppConfig):
    name = "network"

    def ready(self):
        # Imported here, not at the top: network.wiring imports models, which Django allows
        # only once the app registry is loaded.
        from network import wiring

        wiring.ready()
