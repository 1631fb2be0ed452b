"""One call to write an audit event, from a view, the API or a service."""

from portal.choices import Outcome
from portal.models import AuditEvent, Project
from portal.proxies import client_address


def client_ip(request):
    return client_address(request)


def actor(user):
    """The user to record on a row: None for the system (beat, automation) and anonymous."""
    return user if user is not None and user.is_authenticated else None


def record(actor, action, target=None, *, project=None, request=None, outcome=Outcome.SUCCESS, **detail):
    target_type = target_id = target_repr = ""
    if target is not None:
        target_type = target._meta.label_lower
        target_id = str(target.pk)
        target_repr = str(target)[:255]
        if project is None:
            project = target if isinstance(target, Project) else getattr(target, "project", None)
    actor_obj = actor if actor is not None and actor.is_authenticated else None
    return AuditEvent.objects.create(
        actor=actor_obj,
        actor_name=actor_obj.get_username() if actor_obj else "",
        project=project,
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_repr=target_repr,
        source_ip=client_ip(request),
        outcome=outcome,
        detail=detail,
    )
