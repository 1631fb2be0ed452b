"""What beat starts on the catalog's behalf: scheduled backups, and the services' metrics read
from inside their guests (catalog.metrics: one task per service, so a slow guest delays no other;
none while an Operation runs on the service, e.g. a restart for a configuration change).

Scheduled backups: Every few minutes, each service
with a schedule whose newest scheduled backup is older than its interval gets one, taken through
the same verb as "Back up now" acting as the user who ordered the service; then its scheduled
backups beyond the newest ``backup_keep`` are deleted (with their volumes). Backups taken on
demand are never deleted by the schedule."""

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from catalog import metrics, services
from catalog.models import Backup, BackupState, Service
from portal import operations
from portal.errors import ActionError, Conflict, NotPermitted

log = logging.getLogger(__name__)
REFUSED = (ActionError, Conflict, NotPermitted, operations.TargetBusy)
PRUNABLE = (BackupState.AVAILABLE, BackupState.ERROR)


def due(service, now):
    newest = service.backups.filter(scheduled=True).exclude(state=BackupState.ERROR).order_by("-created").first()
    return newest is None or newest.created <= now - timedelta(hours=service.backup_every_hours)


def prune(service, user):
    """Delete the scheduled backups beyond the newest backup_keep (one being taken counts); how
    many deletes were started."""
    newest = Backup.objects.filter(service=service, scheduled=True).exclude(state=BackupState.DELETING)
    deleted = 0
    for backup in newest.order_by("-created")[service.backup_keep :]:
        if backup.state not in PRUNABLE:
            continue
        try:
            services.delete_backup(user, backup)
            deleted += 1
        except REFUSED as exc:
            log.warning("scheduled backup %s of %s not deleted: %s", backup.name, service.name, exc)
    return deleted


@shared_task(name="catalog.beat.scheduled_backups")
def scheduled_backups(now=None):
    """Beat: the backups that are due, then retention. Returns (started, deleted)."""
    now = now or timezone.now()
    started = deleted = 0
    scheduled = Service.objects.filter(backup_every_hours__isnull=False, instance__isnull=False)
    for service in scheduled.select_related("template", "instance__host", "data_volume__pool", "created_by"):
        user = service.created_by
        if user is None or not user.is_active:
            log.warning("service %s: no active user to take its scheduled backups as", service.name)
            continue
        if due(service, now):
            try:
                services.back_up(user, service, scheduled=True)
                started += 1
            except REFUSED as exc:  # busy, building, degraded: the next beat tries again
                log.info("scheduled backup of %s not started: %s", service.name, exc)
        deleted += prune(service, user)
    return started, deleted


@shared_task(name="catalog.beat.collect_metrics")
def collect_metrics(now=None):
    """Beat: queue a reading of every active or degraded service whose template has a metrics
    hook, then drop old samples. Returns how many readings were queued."""
    queued = 0
    running = Service.objects.filter(state__in=services.ACTING_STATES, instance__isnull=False)
    for service in running.select_related("template"):
        if metrics.HOOK not in service.template.hooks or operations.active_on(service) is not None:
            continue
        collect_service_metrics.delay(service.pk)
        queued += 1
    metrics.prune(now)
    return queued


@shared_task(name="catalog.beat.collect_service_metrics")
def collect_service_metrics(service_id):
    service = Service.objects.select_related("template", "instance__host").filter(pk=service_id).first()
    if service is None or service.instance is None or service.state not in services.ACTING_STATES:
        return None
    sample = metrics.collect(service)
    return None if sample is None else sample.pk
