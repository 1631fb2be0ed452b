"""The one publish helper, and the registry that says who may join which group.

Groups are named `<app>.<model>.<pk>` (plus `operation.<pk>`, `project.<pk>`, and `cloud`: what
every project's group gets, for cloud admins, whose lists show every project's rows). An app
registers each group prefix with a function returning the queryset of objects a user may
see; the websocket consumer asks the registry before it joins a group."""

import logging
import re

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)
GROUP_RE = re.compile(r"^(?P<prefix>[a-z_]+(?:\.[a-z_]+)*)\.(?P<pk>\d{1,18})$")
_visible = {}
CLOUD_GROUP = "cloud"


def register(prefix, visible_queryset):
    """visible_queryset(user) -> queryset of objects whose group the user may join."""
    _visible[prefix] = visible_queryset


def may_join(user, group):
    if group == CLOUD_GROUP:
        return user.is_authenticated and user.is_staff
    match = GROUP_RE.match(group or "")
    if not match or not user.is_authenticated:
        return False
    visible = _visible.get(match["prefix"])
    if visible is None:
        return False
    return visible(user).filter(pk=int(match["pk"])).exists()


def publish(group, event, data):
    """Send one message to a group. Never raises: a broken channel layer must not fail the task."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "relay", "group": group, "event": event, "data": data})
    except Exception as exc:  # noqa: BLE001 - redis-py's errors are not builtin ones; none may escape
        log.warning("publish to %s failed: %s: %s", group, exc.__class__.__name__, exc)


def publish_to_project(project_id, event, data):
    """A change every page of the project follows (its lists), sent to the project's group and to
    the cloud admins' group."""
    publish(f"project.{project_id}", event, data)
    publish(CLOUD_GROUP, event, data)
