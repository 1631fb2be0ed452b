from django.apps import AppConfig


class SchedulerConfig(AppConfig):
    name = "scheduler"
    verbose_name = "Scheduler"

    def ready(self):
        # Imported here, not at the top: scheduler.wiring imports models, which Django allows
        # only once the app registry is loaded.
        from scheduler import wiring

        wiring.ready()
