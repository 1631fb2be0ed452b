"""Monitoring's beat entries: the task names and how often they run (compute.wiring schedules them)."""

from django.conf import settings

from portal.env import env_int

COLLECT_TASK = "compute.metrics.tasks.collect_all"
ROLLUP_TASK = "compute.metrics.tasks.rollup_and_prune"
ROLLUP_INTERVAL_S = 60


def metrics_interval():
    """Seconds between collections: settings.NUBES_METRICS_INTERVAL (environment, default 10)."""
    return getattr(settings, "NUBES_METRICS_INTERVAL", None) or env_int("NUBES_METRICS_INTERVAL", 10, 1)
