from django.apps import AppConfig


class SchedulerConfig(AppConfig):
    name = "scheduler"
    verbose_name = "Scheduler"

    def ready(self):
        from compute import hooks
        from portal.celery import app
        from scheduler import signals  # noqa: F401  (finishes recommendations)
        from scheduler.tasks import beat_schedule, wake_for_request

        hooks.register_host_waker(wake_for_request)
        app.conf.beat_schedule = {**(app.conf.beat_schedule or {}), **beat_schedule()}
