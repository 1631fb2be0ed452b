"""What beat starts on the scheduler's behalf, as a user would: DRS and DPM runs and the sweep of
recommendations, through the services. Task names keep scheduler.tasks.<name> (where they
were), so queued messages and beat entries still match. beat_schedule() is the app's beat."""

import logging

from celery import shared_task
from django.utils import timezone

from compute.models import Cluster
from scheduler import conf
from scheduler.models import ClusterSchedulerSettings
from scheduler.services import recommendations

log = logging.getLogger(__name__)


@shared_task(name="scheduler.tasks.drs_tick")
def drs_tick():
    now = timezone.now()
    for settings in ClusterSchedulerSettings.objects.filter(drs_enabled=True):
        due = settings.drs_last_run is None or (now - settings.drs_last_run).total_seconds() >= settings.drs_interval_s
        if due:
            run_drs.delay(settings.cluster_id)


@shared_task(name="scheduler.tasks.run_drs")
def run_drs(cluster_id):
    outcome = recommendations.run_drs(Cluster.objects.get(pk=cluster_id))
    log.info("DRS on cluster %s: %s", cluster_id, outcome.message)


@shared_task(name="scheduler.tasks.dpm_tick")
def dpm_tick():
    for cluster_id in ClusterSchedulerSettings.objects.filter(dpm_enabled=True).values_list("cluster_id", flat=True):
        run_dpm.delay(cluster_id)


@shared_task(name="scheduler.tasks.run_dpm")
def run_dpm(cluster_id):
    outcome = recommendations.run_dpm(Cluster.objects.get(pk=cluster_id))
    log.info("DPM on cluster %s: %s", cluster_id, outcome.message)


@shared_task(name="scheduler.tasks.sweep_recommendations")
def sweep_recommendations():
    recommendations.sweep()


def beat_schedule():
    return {
        "scheduler-heartbeat": {"task": "scheduler.tasks.heartbeat", "schedule": float(conf.heartbeat_interval_s())},
        "scheduler-vm-heartbeat": {
            "task": "scheduler.tasks.vm_heartbeat",
            "schedule": float(conf.vm_heartbeat_interval_s()),
        },
        "scheduler-drs": {"task": "scheduler.tasks.drs_tick", "schedule": float(conf.drs_tick_s())},
        "scheduler-dpm": {"task": "scheduler.tasks.dpm_tick", "schedule": float(conf.dpm_interval_s())},
        "scheduler-sweep": {
            "task": "scheduler.tasks.sweep_recommendations",
            "schedule": float(conf.finalize_interval_s()),
        },
    }
