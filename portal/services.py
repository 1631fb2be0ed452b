"""The platform's own verbs (projects, tokens, quota recount), called by views and the API."""

from django.db import transaction
from django.utils import timezone

from portal import audit, operations, teardown
from portal.choices import ACTIVE_STATUSES
from portal.errors import Conflict, NotPermitted
from portal.models import ApiToken, Operation
from portal.tasks import purge_project, recount_quota


def start_recount(project, user):
    with transaction.atomic():
        op = operations.begin("project.recount_quota", project, user=user, project=project)
        operations.send_after_commit(recount_quota, op)
    audit.record(user, "project.recount_quota", project)
    return op


def _check_project_idle(project, user, what):
    if not user.is_staff:
        raise NotPermitted(f"Only cloud admins {what} projects.")
    if Operation.objects.filter(project=project, status__in=ACTIVE_STATUSES).exists():
        raise Conflict("The project has operations in progress.")


def delete_project(project, user, request=None):
    """Delete a project that owns nothing; one that owns resources is refused with their counts."""
    _check_project_idle(project, user, "delete")
    owned = teardown.owned_counts(project)
    if owned:
        raise teardown.ProjectNotEmpty(project, owned)
    teardown.delete_empty(project, user, request)


def start_purge(project, user, request=None):
    """Delete everything the project owns, then the project, as one Operation (staff only)."""

    _check_project_idle(project, user, "purge")
    with transaction.atomic():
        op = operations.begin(
            "project.purge", project, user=user, project=project, detail={"owned": teardown.owned_counts(project)}
        )
        audit.record(user, "project.purge", project, request=request)  # before the task can delete the project
        operations.dispatch(purge_project, op)
    return op


def issue_token(user, name, expires=None, request=None):
    token, plain = ApiToken.issue(user, name, expires)
    audit.record(user, "token.create", token, request=request)
    return token, plain


def revoke_token(token, user, request=None):
    if token.revoked is None:
        token.revoked = timezone.now()
        token.save(update_fields=["revoked"])
        audit.record(user, "token.revoke", token, request=request)
