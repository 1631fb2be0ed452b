"""storage's part in deleting a project (portal.teardown), after instances and networks: volumes
newest first (a linked clone before its base; a volume's snapshots go with it), then any
snapshot left."""

from portal import teardown
from storage import services
from storage.models import Snapshot, Volume

VOLUMES, SNAPSHOTS = 90, 95


def register():
    teardown.register(
        "volumes",
        VOLUMES,
        lambda project: Volume.objects.filter(project=project).order_by("-pk"),
        services.delete_volume,
    )
    teardown.register(
        "snapshots",
        SNAPSHOTS,
        lambda project: Snapshot.objects.filter(project=project).order_by("-pk"),
        services.delete_snapshot,
    )
