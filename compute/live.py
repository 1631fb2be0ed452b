"""What migration and monitoring add when the app starts (called from ComputeConfig.ready):
the websocket groups they publish to and their beat schedule."""

from django.conf import settings

from portal.env import env_int

COLLECT_TASK = "compute.metrics.tasks.collect_all"
ROLLUP_TASK = "compute.metrics.tasks.rollup_and_prune"
ROLLUP_INTERVAL_S = 60


def metrics_interval():
    """Seconds between collections: settings.NUBES_METRICS_INTERVAL (environment, default 10)."""
    return getattr(settings, "NUBES_METRICS_INTERVAL", None) or env_int("NUBES_METRICS_INTERVAL", 10, 1)


def ready():
    from compute.models import Cluster, Host, Migration
    from portal import realtime
    from portal.celery import app

    realtime.register("compute.migration", lambda user: Migration.objects.visible_to(user))
    # Host and cluster streams carry every tenant's load: cloud admins only.
    realtime.register("compute.host", lambda user: Host.objects.all() if user.is_staff else Host.objects.none())
    realtime.register(
        "compute.cluster", lambda user: Cluster.objects.all() if user.is_staff else Cluster.objects.none()
    )
    schedule = dict(app.conf.beat_schedule or {})
    schedule["compute-metrics-collect"] = {"task": COLLECT_TASK, "schedule": float(metrics_interval())}
    schedule["compute-metrics-rollup"] = {"task": ROLLUP_TASK, "schedule": float(ROLLUP_INTERVAL_S)}
    app.conf.beat_schedule = schedule
