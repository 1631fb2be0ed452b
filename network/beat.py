"""What beat starts on network's behalf, as an admin would: the sync, through the verb the admin's
page uses (one Operation at a time). The task name keeps network.tasks.sync_periodic."""

from celery import shared_task

from network.services import sync as sync_service
from portal.choices import ACTIVE_STATUSES
from portal.models import Operation


@shared_task(name="network.tasks.sync_periodic")
def sync_periodic():
    """Beat: one sync at a time (a running one makes this a no-op)."""

    if Operation.objects.filter(kind=sync_service.SYNC_KIND, status__in=ACTIVE_STATUSES).exists():
        return None
    return sync_service.start_sync().pk
