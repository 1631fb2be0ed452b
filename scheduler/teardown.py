"""The scheduler's part in deleting a project (portal.teardown): server groups are rows only, and
a project purge deletes them as the API does."""

from portal import teardown
from scheduler.models import ServerGroup

SERVER_GROUPS = 100


def register():
    teardown.register(
        "server groups",
        SERVER_GROUPS,
        lambda project: ServerGroup.objects.filter(project=project),
        lambda user, group: group.delete(),
    )
