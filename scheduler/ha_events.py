"""The HA event log: every event is recorded here and published live, to the cluster's group
(`scheduler.cluster.<pk>`, cloud admins) and to its instance's (`compute.instance.<pk>`, whoever
may see the instance), with the serializer the REST API uses."""

from django.db import transaction

from portal import presenters, realtime
from scheduler.models import HaEvent

CLUSTER_GROUP = "scheduler.cluster"
EVENT = "ha_event"


def record(cluster_id, kind, detail="", *, host=None, instance=None, operation=None):
    event = HaEvent.objects.create(
        cluster_id=cluster_id, host=host, instance=instance, kind=kind, detail=detail[:500], operation=operation
    )
    transaction.on_commit(lambda: publish(event))
    return event


def groups(event):
    names = [f"{CLUSTER_GROUP}.{event.cluster_id}"]
    if event.instance_id is not None:
        names.append(f"compute.instance.{event.instance_id}")
    return names


def publish(event):
    data = presenters.present(event)
    realtime.publish_many([(group, EVENT, data) for group in groups(event)])
