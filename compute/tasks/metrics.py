"""Celery tasks of monitoring: the beat entry fans out one collection task per host; a
second entry rolls samples up and prunes them (schedule in compute.metrics.schedule)."""

import logging
import time

from celery import shared_task

import hypervisor as hv
from compute.choices import HostState
from compute.metrics import collector, rollups
from compute.metrics.schedule import metrics_interval
from compute.models import Host, MetricCursor

log = logging.getLogger(__name__)
COLLECTED_HOST_STATES = (HostState.UP, HostState.MAINTENANCE)
SKIP_SHARE = 0.5  # a host collected less than half an interval ago is skipped (a late beat)


@shared_task(ignore_result=True, name="compute.metrics.tasks.collect_all")
def collect_all():
    for host_id in Host.objects.filter(state__in=COLLECTED_HOST_STATES).values_list("pk", flat=True):
        collect_host.delay(host_id)


@shared_task(ignore_result=True, name="compute.metrics.tasks.collect_host")
def collect_host(host_id):
    host = Host.objects.filter(pk=host_id, state__in=COLLECTED_HOST_STATES).first()
    if host is None:
        return None
    last = MetricCursor.objects.filter(host=host).values_list("at", flat=True).first()
    if last and time.time() - last < metrics_interval() * SKIP_SHARE:
        return None
    try:
        result = collector.collect_host(host)
    except hv.HostUnreachable as exc:
        log.warning("metrics: %s does not answer: %s", host.name, exc)
        return None
    return {"host": host.pk, "instances": result.instances, "seconds": round(result.seconds, 4)}


@shared_task(ignore_result=True, name="compute.metrics.tasks.rollup_and_prune")
def rollup_and_prune():
    return rollups.rollup_and_prune(time.time())
