"""An instance's metadata: the tenant's key/value strings, with Nova's limits (keys and values
up to 255 characters, 128 items). Nothing reaches the domain: the row, an event and the audit log."""

from compute.choices import EventSource, InstanceState
from compute.domain import record_event
from compute.models import Instance
from compute.services.instances import _is_admin, _writable
from portal import audit
from portal.errors import ActionError, Conflict, NotPermitted

MAX_ITEMS = 128
MAX_LENGTH = 255


def validate(metadata):
    """The metadata as a dict of strings; ActionError (400) for a bad key or value."""
    if not isinstance(metadata, dict):
        raise ActionError("Metadata is an object of string keys and string values.", field="metadata")
    for key, value in metadata.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_LENGTH:
            raise ActionError(f"Metadata keys are 1 to {MAX_LENGTH} characters.", field="metadata")
        if not isinstance(value, str) or len(value) > MAX_LENGTH:
            raise ActionError(
                f"Metadata value of {key!r} is not a string of up to {MAX_LENGTH} characters.", field="metadata"
            )
    return metadata


def check_count(metadata):
    """Nova's metadata_items quota: more than 128 items is a 403."""
    if len(metadata) > MAX_ITEMS:
        raise NotPermitted(
            f"Quota exceeded for metadata_items: Requested {len(metadata)}, but the limit is {MAX_ITEMS}."
        )


def set_metadata(user, instance, metadata, request=None):
    """Replace the instance's metadata with ``metadata`` (validated); returns it."""
    _writable(user, instance.project)
    if instance.locked and not _is_admin(user, instance.project):
        raise Conflict(f"Instance {instance.name} is locked; only project admins act on it.")
    if instance.state in (InstanceState.DELETING, InstanceState.DELETED):
        raise Conflict(f"Instance {instance.name} is {instance.state}.")
    metadata = validate(metadata)
    check_count(metadata)
    old = instance.metadata or {}
    Instance.objects.filter(pk=instance.pk).update(metadata=metadata)
    instance.metadata = metadata
    changed = sorted(k for k in set(old) | set(metadata) if old.get(k) != metadata.get(k))
    record_event(instance, EventSource.ACTION, "metadata", ", ".join(changed))
    audit.record(user, "instance.metadata", instance, request=request, keys=changed)
    return metadata
