"""What storage's verbs share: who may change what, that nothing else runs on the target,
and queueing the Operation and its task."""

from django.db import transaction

from compute.choices import InstanceState
from compute.models import Instance
from portal import audit, operations
from portal.choices import WRITE_ROLES
from portal.errors import Conflict, NotPermitted

# Instance states in which a disk may be hot- or cold-plugged.
ATTACHABLE_STATES = (InstanceState.ACTIVE, InstanceState.SHUTOFF, InstanceState.PAUSED)


def check_writer(user, project):
    if project.role_of(user) not in WRITE_ROLES:
        raise NotPermitted("Readers cannot change storage.")


def check_staff(user):
    if not user.is_staff:
        raise NotPermitted("Only cloud admins manage storage pools and mapped devices.")


def check_idle(target):
    running = operations.active_on(target)
    if running is not None:
        raise operations.TargetBusy(running)


def queue(kind, target, user, task, *, detail=None, cancellable=False, request=None, audit_detail=None):
    """Operation + task on commit + audit, inside the caller's transaction."""
    op = operations.begin(
        kind, target, user=user, project=getattr(target, "project", None), cancellable=cancellable, detail=detail or {}
    )
    operations.dispatch(task, op)
    transaction.on_commit(lambda: audit.record(user, kind, target, request=request, **(audit_detail or detail or {})))
    return op


def check_not_in_instance_snapshot(volume):
    """A volume frozen in an instance's external snapshot changes only through that snapshot."""
    if volume.instance_layers.exists():
        raise Conflict(
            f"Volume {volume.name} is part of external snapshots of instance {volume.instance}: its files "
            "are that snapshot's layers. Delete those instance snapshots first."
        )


def volume_guard(user, volume, *states):
    check_writer(user, volume.project)
    check_idle(volume)
    check_not_in_instance_snapshot(volume)
    if states and volume.state not in states:
        raise Conflict(f"Volume {volume.name} is {volume.state}; this needs {' or '.join(states)}.")


def instances_for(user, project):
    """Instances a volume of `project` may attach to."""
    return (
        Instance.objects.visible_to(user)
        .filter(project=project)
        .exclude(state__in=(InstanceState.DELETED, InstanceState.DELETING))
    )
