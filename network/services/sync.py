"""The periodic sync: the database is the truth, the backend is made to match it."""

from network import backends, tasks
from portal import operations

SYNC_KIND = "network.sync"


def start_sync(user=None, *, clean_orphans=False):
    """An untargeted Operation running the sync (beat calls it without a user)."""

    op = operations.begin_untargeted(
        SYNC_KIND, name=f"{backends.configured().label} sync", user=user, detail={"clean_orphans": clean_orphans}
    )
    operations.send_after_commit(tasks.sync, op)
    return op


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
