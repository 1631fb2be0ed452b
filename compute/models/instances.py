"""Instances, what happened to them, and domains found on hosts that are not ours."""

import base64
import hashlib
import uuid

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from compute.choices import (
    DOMAIN_PREFIX,
    MAX_USER_DATA_BYTES,
    ROOT_VOLUME_SUFFIX,
    EventSource,
    InstanceState,
    PowerState,
)
from compute.models.catalog import Flavor, Image, KeyPair
from compute.models.infrastructure import Host
from portal.models.tenancy import ProjectOwned, ProjectOwnedQuerySet

# Names appear in the UI and, escaped, as the domain's <title>; anything printable is allowed.
NAME_MAX = 63


def _fernet():
    # Secrets at rest are encrypted with a key derived from SECRET_KEY.
    key = hashlib.sha256(f"nubes-compute:{settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def validate_instance_name(name):
    if not name.strip():
        raise ValidationError("A name cannot be blank.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ValidationError("A name cannot contain control characters.")


class HaPriority(models.IntegerChoices):
    DISABLED = 0, "Disabled"
    LOW = 1, "Low"
    MEDIUM = 2, "Medium"
    HIGH = 3, "High"


class InstanceQuerySet(ProjectOwnedQuerySet):
    def live(self):
        return self.exclude(state=InstanceState.DELETED)


class Instance(ProjectOwned):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=NAME_MAX, validators=[validate_instance_name])
    flavor = models.ForeignKey(Flavor, on_delete=models.PROTECT, related_name="instances")
    # Null only on a deleted instance's record once its image went (a record must not keep an
    # image alive: compute.services.images.in_use_by counts live instances only).
    image = models.ForeignKey(Image, null=True, on_delete=models.SET_NULL, related_name="instances")
    host = models.ForeignKey(Host, null=True, blank=True, on_delete=models.PROTECT, related_name="instances")
    key_pair = models.ForeignKey(KeyPair, null=True, blank=True, on_delete=models.SET_NULL, related_name="instances")
    user_data = models.TextField(blank=True, max_length=MAX_USER_DATA_BYTES)
    state = models.CharField(max_length=16, choices=InstanceState.choices, default=InstanceState.BUILDING)
    state_reason = models.CharField(max_length=500, blank=True)
    power_state = models.CharField(max_length=16, choices=PowerState.choices, default=PowerState.NOSTATE)
    locked = models.BooleanField(default=False)
    # What the instance holds (its flavor's at the last create / resize): quota and placement.
    vcpus = models.PositiveSmallIntegerField()
    ram_mb = models.PositiveIntegerField()
    disk_gb = models.PositiveIntegerField()
    quota_held = models.BooleanField(default=False)
    balloon_mb = models.PositiveIntegerField(null=True, blank=True)
    cpu_shares = models.PositiveIntegerField(null=True, blank=True)
    cpu_limit_pct = models.PositiveSmallIntegerField(null=True, blank=True)
    pinned_cpus = models.JSONField(default=list, blank=True, help_text="Host CPUs of a dedicated instance, per vCPU")
    vnc_password_encrypted = models.TextField(blank=True, editable=False)
    serial_log_path = models.CharField(max_length=500, blank=True)
    # cloud-init NoCloud seed: a raw volume next to the root disk (same pool), attached as a cdrom.
    seed_path = models.CharField(max_length=500, blank=True)
    seed_sha256 = models.CharField(max_length=64, blank=True)
    # The VNC port libvirt gave the running domain (real hosts; read by the tasks, used by the proxy).
    vnc_port = models.PositiveIntegerField(null=True, blank=True)
    ha_priority = models.PositiveSmallIntegerField(choices=HaPriority.choices, default=HaPriority.MEDIUM)
    # The tenant's key/value strings (Nova's server metadata; compute.services.metadata's limits).
    metadata = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)
    launched = models.DateTimeField(null=True, blank=True)
    deleted = models.DateTimeField(null=True, blank=True)

    objects = InstanceQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["project", "state"]), models.Index(fields=["host", "state"])]

    def __str__(self):
        return self.name

    @property
    def domain_name(self) -> str:
        return f"{DOMAIN_PREFIX}{self.uuid}"

    @property
    def root_volume(self):
        return f"{self.domain_name}{ROOT_VOLUME_SUFFIX}"

    @property
    def group(self):
        return f"compute.instance.{self.pk}"

    def set_vnc_password(self, plain):
        self.vnc_password_encrypted = _fernet().encrypt(plain.encode()).decode()

    def vnc_password(self):
        if not self.vnc_password_encrypted:
            return None
        try:
            return _fernet().decrypt(self.vnc_password_encrypted.encode()).decode()
        except InvalidToken:
            return None  # SECRET_KEY changed: a new password is set on the next define


class InstanceEvent(models.Model):
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="events")
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    source = models.CharField(max_length=16, choices=EventSource.choices)
    kind = models.CharField(max_length=64)
    detail = models.CharField(max_length=500, blank=True)
    operation = models.ForeignKey(
        "portal.Operation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return f"{self.instance}: {self.kind}"


class UnmanagedDomain(models.Model):
    """A domain the reconciler found on a host that Nubes did not create: listed, never touched."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="unmanaged_domains")
    uuid = models.CharField(max_length=36)
    name = models.CharField(max_length=255)
    power_state = models.CharField(max_length=16, choices=PowerState.choices, default=PowerState.NOSTATE)
    ignored = models.BooleanField(default=False)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["host__name", "name"]
        constraints = [models.UniqueConstraint(fields=["host", "uuid"], name="unmanaged_once_per_host")]

    def __str__(self):
        return f"{self.name} on {self.host}"
