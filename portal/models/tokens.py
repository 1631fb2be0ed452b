"""Personal API tokens. Only a hash is stored; the token is shown once when made."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

TOKEN_PREFIX = "nubes"


def hash_secret(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def usable(self):
        now = timezone.now()
        return self.filter(revoked__isnull=True, expires__gt=now)


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()  # at most NUBES_TOKEN_MAX_DAYS after creation
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"{self.name} ({self.key_id})"

    @classmethod
    def issue(cls, user, name, expires=None):
        """Make a token; returns (row, plain token). The plain token is never stored. Without an
        expiry it gets the longest lifetime."""
        expires = expires or timezone.now() + timedelta(days=settings.NUBES_TOKEN_MAX_DAYS)
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user, name=name, key_id=key_id, secret_hash=hash_secret(secret), expires=expires
        )
        return token, f"{TOKEN_PREFIX}_{key_id}_{secret}"

    @property
    def is_usable(self):
        return self.revoked is None and self.expires > timezone.now()

    def matches(self, secret):
        return secrets.compare_digest(self.secret_hash, hash_secret(secret))
