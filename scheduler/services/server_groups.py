"""Server groups at an instance's creation: the new instance is placed by its group's policy
(affinity, anti-affinity, and their soft variants) and joins the group, one create at a time per
group, so two creates of an anti-affinity group cannot both take the same host. Afterwards DRS
keeps the same rules (scheduler/snapshot.py)."""

from django.db import transaction

from compute.choices import PLACED_STATES
from compute.services import instances as compute
from compute.services.placement import GroupHint
from portal.errors import ActionError
from scheduler.models import ServerGroup


def create_in_group(user, project, group, **fields):
    """compute's create_instance (same arguments) placed by ``group``'s policy and made its member."""
    if group.project_id != project.pk:
        raise ActionError(f"Server group {group.pk} belongs to another project.", field="group")
    with transaction.atomic():
        locked = ServerGroup.objects.select_for_update().get(pk=group.pk)
        hosts = locked.members.filter(state__in=PLACED_STATES, host__isnull=False).values_list("host_id", flat=True)
        hint = GroupHint(id=str(locked.pk), policy=locked.policy, member_hosts=tuple(hosts))
        instance, op = compute.create_instance(user, project, group=hint, **fields)
        locked.members.add(instance)
    return instance, op
