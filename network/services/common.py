"""What every network verb shares: checks, unique MACs, and queueing the Operation whose task
realises or removes an object (network.tasks.objects)."""

import random

from django.db import IntegrityError, transaction

from network.choices import MAC_ATTEMPTS, MAC_PREFIX
from network.models import (
    Port,
)
from network.tasks import objects as object_tasks
from portal import operations
from portal.choices import OperationStatus
from portal.errors import ActionError, NotPermitted
from portal.models import Operation

REALISE_TASK = "network.tasks.realise"
REMOVE_TASK = "network.tasks.remove"


def require_staff(user, what):
    if not user.is_staff:
        raise NotPermitted(f"Only cloud admins may {what}.")


def queue(kind, obj, user, *, task=REALISE_TASK, target=None, **detail):
    """An Operation on `target` (default `obj`) whose task realises or removes `obj`. A change
    while the same realise is still queued on it joins that one (returned): its task reads the
    object when it starts, so it takes this change too. Two quick edits (a client removing then
    adding a security group) were a 409 for the second while the first waited for a worker."""

    if task == REALISE_TASK and not detail:
        waiting = _queued_realise(kind, target or obj)
        if waiting is not None:
            return waiting
    op = operations.begin(kind, target or obj, user=user, project=obj.project, detail=detail)
    label, pk = obj._meta.label_lower, obj.pk
    run = object_tasks.realise if task == REALISE_TASK else object_tasks.remove
    operations.dispatch(run, op, label, pk)
    return op


def _queued_realise(kind, target):
    # Locked till the caller commits: a worker's claim (QUEUED -> RUNNING) waits for this change.
    target_type, target_id = operations.target_key(target)
    with transaction.atomic():
        return (
            Operation.objects.select_for_update()
            .filter(kind=kind, target_type=target_type, target_id=target_id, status=OperationStatus.QUEUED)
            .first()
        )


def save_changes(user, obj, kind, fields, exclude=None):
    """Set fields, validate, save and queue the realising Operation, in one transaction."""
    with transaction.atomic():
        for field, value in fields.items():
            setattr(obj, field, value)
        obj.full_clean(exclude=exclude)
        obj.save()
        return obj, queue(kind, obj, user)


def random_mac():
    return ":".join(f"{b:02x}" for b in (*MAC_PREFIX, *(random.randrange(256) for _ in range(3))))


def unique_mac():
    for _ in range(MAC_ATTEMPTS):
        mac = random_mac()
        if not Port.objects.filter(mac_address=mac).exists():
            return mac
    raise ActionError("Could not find a free MAC address; try again.")


def save_unique(obj, message, field=None):
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise ActionError(message, field=field) from None
