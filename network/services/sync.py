"""Starting the sync (network.tasks.sync): the database is the truth, the backend is made to match it."""

from network import backends
from network.tasks import sync as sync_tasks
from portal import operations

SYNC_KIND = "network.sync"


def start_sync(user=None, *, clean_orphans=False):
    """An untargeted Operation running the sync (beat calls it without a user)."""

    op = operations.begin_untargeted(
        SYNC_KIND, name=f"{backends.configured().label} sync", user=user, detail={"clean_orphans": clean_orphans}
    )
    operations.send_after_commit(sync_tasks.sync, op)
    return op
