"""The sync's task: the database is the truth, the backend is made to match it (one Operation,
started by an admin or by beat)."""

from celery import shared_task

from network import backends

# Beat starts the sync through the service verb the admin's page uses (one Operation at a time).
from network.services import sync as sync_service
from portal.choices import ACTIVE_STATUSES
from portal.models import Operation
from portal.tasks import run_operation


@shared_task(bind=True, name="network.tasks.sync")
def sync(self, op_id):
    def work(op):
        message, detail = run_sync(clean_orphans=op.detail.get("clean_orphans", False))
        op.detail = {**op.detail, **detail}
        op.save(update_fields=["detail"])
        return message

    return run_operation(op_id, work, self.request.id or "")


@shared_task(name="network.tasks.sync_periodic")
def sync_periodic():
    """Beat: one sync at a time (a running one makes this a no-op)."""

    if Operation.objects.filter(kind=sync_service.SYNC_KIND, status__in=ACTIVE_STATUSES).exists():
        return None
    return sync_service.start_sync().pk


def run_sync(clean_orphans=False):
    """Returns (message, detail) for the Operation."""
    report = backends.configured().sync(clean_orphans=clean_orphans)
    orphans = [
        {"table": o.table, "name": o.name, "uuid": o.uuid, "kind": o.kind, "object_id": o.object_id}
        for o in report.orphans
    ]
    return report.summary(), {
        "repaired": report.repaired,
        "removed": report.removed,
        "orphans": orphans,
        "realised": report.realised,
        "errors": report.errors,
    }
