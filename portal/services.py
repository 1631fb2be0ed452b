"""The platform's own verbs (projects, tokens, quota recount), called by views and the API."""
from django.db import transaction

from portal import audit, operations
from portal.models import ApiToken


def start_recount(project, user):
    from portal.tasks import recount_quota

    with transaction.atomic():
        op = operations.begin("project.recount_quota", project, user=user, project=project)
        transaction.on_commit(lambda: recount_quota.delay(op.pk))
    audit.record(user, "project.recount_quota", project)
    return op


def issue_token(user, name, expires=None, request=None):
    token, plain = ApiToken.issue(user, name, expires)
    audit.record(user, "token.create", token, request=request)
    return token, plain


def revoke_token(token, user, request=None):
    from django.utils import timezone

    if token.revoked is None:
        token.revoked = timezone.now()
        token.save(update_fields=["revoked"])
        audit.record(user, "token.revoke", token, request=request)
