"""Keystone tokens: project-scoped, short-lived, stored as a SHA-256 hash (the plain token is
handed out once, in X-Subject-Token). Nova's resize step the native API has not: a resize
waiting for confirmResize / revertResize."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from compute.models import Flavor, Instance
from openstack_api import settings as os_settings
from portal.models import ApiToken, Operation, Project

TOKEN_BYTES = 32


def hash_token(plain):
    return hashlib.sha256(plain.encode()).hexdigest()


class KeystoneTokenQuerySet(models.QuerySet):
    def usable(self):
        return self.filter(revoked__isnull=True, expires__gt=timezone.now())


class KeystoneToken(models.Model):
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="keystone_tokens")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="keystone_tokens")
    method = models.CharField(max_length=32)  # password / application_credential
    # The Nubes API token an application credential authenticated with: revoking it ends this.
    api_token = models.ForeignKey(ApiToken, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    audit_id = models.CharField(max_length=32, editable=False)
    issued = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    revoked = models.DateTimeField(null=True, blank=True)

    objects = KeystoneTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-issued"]

    def __str__(self):
        return f"{self.method} token of {self.user} in {self.project}"

    @classmethod
    def issue(cls, user, project, method, api_token=None):
        """Make a token; returns (row, plain token)."""
        plain = secrets.token_urlsafe(TOKEN_BYTES)
        expires = timezone.now() + timedelta(seconds=os_settings.token_ttl_s())
        if api_token is not None:
            expires = min(expires, api_token.expires)
        row = cls.objects.create(
            token_hash=hash_token(plain),
            user=user,
            project=project,
            method=method,
            api_token=api_token,
            audit_id=secrets.token_urlsafe(16)[:22],
            expires=expires,
        )
        return row, plain

    @classmethod
    def lookup(cls, plain):
        """The usable token for a plain value, or None (expired, revoked, unknown, user inactive)."""
        if not plain:
            return None
        row = cls.objects.usable().select_related("user", "project", "api_token").filter(token_hash=hash_token(plain))
        row = row.first()
        if row is None or not row.user.is_active:
            return None
        if row.api_token is not None and not row.api_token.is_usable:
            return None
        if row.project.role_of(row.user) is None:
            return None  # the membership was removed since
        return row


class PendingResize(models.Model):
    """A resize made through Nova's API: the server shows VERIFY_RESIZE once its Operation has
    succeeded, until confirmResize (the row goes) or revertResize (a resize back to old_flavor,
    whose Operation then replaces this one)."""

    instance = models.OneToOneField(Instance, on_delete=models.CASCADE, related_name="pending_resize")
    old_flavor = models.ForeignKey(Flavor, on_delete=models.CASCADE, related_name="+")
    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="+")
    reverting = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"resize of {self.instance} from {self.old_flavor}"
