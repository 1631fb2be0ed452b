"""The sync's task: the database is the truth, the backend is made to match it (one Operation,
started by an admin or by beat: network/beat.py)."""

from celery import shared_task

from network import backends
from portal.tasks import run_operation


@shared_task(bind=True, name="network.tasks.sync")
def sync(self, op_id):
    def work(op):
        message, detail = run_sync(clean_orphans=op.detail.get("clean_orphans", False))
        op.detail = {**op.detail, **detail}
        op.save(update_fields=["detail"])
        return message

    return run_operation(op_id, work, self.request.id or "")


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
