"""Volumes: tenant disks in a pool, attached to at most one instance (unless shareable)."""

import uuid

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from portal.models.tenancy import ProjectOwned
from storage.choices import (
    LUN_NAME,
    LUN_POOL_TYPES,
    MAX_VOLUME_GB,
    VOLUME_PREFIX,
    DeviceType,
    DiscardMode,
    DiskBus,
    DiskCache,
    Provisioning,
    VolumeFormat,
    VolumeSource,
    VolumeState,
    inside_roots,
)
from storage.models.names import DISPLAY_NAME, LIBVIRT_NAME, no_dot_dot
from storage.models.pools import StoragePool


class Volume(ProjectOwned):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=63, validators=[DISPLAY_NAME, no_dot_dot])
    description = models.CharField(max_length=500, blank=True)
    pool = models.ForeignKey(StoragePool, on_delete=models.PROTECT, related_name="volumes")
    format = models.CharField(max_length=8, choices=VolumeFormat.choices, default=VolumeFormat.QCOW2)
    size_gb = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(MAX_VOLUME_GB)])
    provisioning = models.CharField(max_length=8, choices=Provisioning.choices, default=Provisioning.THIN)
    source = models.CharField(max_length=16, choices=VolumeSource.choices, default=VolumeSource.EMPTY)
    source_image = models.ForeignKey(
        "compute.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Linked clones: the template volume (or snapshot) whose frozen file is our backing file.
    backing_volume = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="linked_clones"
    )
    backing_snapshot = models.ForeignKey(
        "storage.Snapshot", null=True, blank=True, on_delete=models.PROTECT, related_name="linked_clones"
    )
    is_template = models.BooleanField(default=False, help_text="Frozen: a base for linked clones")
    state = models.CharField(max_length=16, choices=VolumeState.choices, default=VolumeState.CREATING)
    state_reason = models.CharField(max_length=500, blank=True)
    # The active layer in libvirt: its name in the pool, path and backing file.
    libvirt_name = models.CharField(max_length=160, blank=True, validators=[LIBVIRT_NAME, no_dot_dot])
    path = models.CharField(max_length=500, blank=True)
    backing_path = models.CharField(max_length=500, blank=True)
    layer_seq = models.PositiveIntegerField(default=0, help_text="Overlays made so far (names their files)")
    allocation_bytes = models.PositiveBigIntegerField(default=0)
    # Raw device mapping: a host block device exposed as a volume by a cloud admin.
    device_path = models.CharField(max_length=500, blank=True)
    device_type = models.CharField(max_length=8, choices=DeviceType.choices, default=DeviceType.DISK)
    # Attachment.
    instance = models.ForeignKey(
        "compute.Instance", null=True, blank=True, on_delete=models.PROTECT, related_name="volumes"
    )
    target_dev = models.CharField(max_length=8, blank=True)
    bus = models.CharField(max_length=8, choices=DiskBus.choices, default=DiskBus.VIRTIO)
    cache = models.CharField(max_length=16, choices=DiskCache.choices, default=DiskCache.NONE)
    discard = models.CharField(max_length=8, choices=DiscardMode.choices, default=DiscardMode.UNMAP)
    readonly = models.BooleanField(default=False)
    shareable = models.BooleanField(default=False)
    simulated = models.BooleanField(default=False, help_text="Lives on a test-driver host: no real data")
    quota_held = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="volume_name_per_project"),
            models.CheckConstraint(condition=models.Q(size_gb__gte=1), name="volume_size_positive"),
        ]
        indexes = [models.Index(fields=["project", "state"])]

    def __str__(self):
        return self.name

    @property
    def group(self):
        return f"storage.volume.{self.pk}"

    @property
    def base_name(self):
        return f"{VOLUME_PREFIX}{self.uuid}"

    @property
    def is_raw_device(self):
        return bool(self.device_path)

    @property
    def is_linked_clone(self):
        return self.backing_volume_id is not None or self.backing_snapshot_id is not None

    def clean(self):
        if self.device_path and self.pool_id and self.pool.type in LUN_POOL_TYPES:
            if not LUN_NAME.match(self.device_path):
                raise ValidationError({"device_path": "A LUN of an iSCSI pool is named unit:<bus>:<target>:<lun>."})
        elif self.device_path and not inside_roots(self.device_path, ("/dev",)):
            raise ValidationError({"device_path": "A raw device mapping names a block device under /dev."})
        if self.device_type == DeviceType.LUN and self.bus != DiskBus.SCSI:
            raise ValidationError({"bus": "SCSI pass-through (LUN) needs the scsi bus."})
        if self.backing_volume_id and self.format != VolumeFormat.QCOW2:
            raise ValidationError({"format": "A linked clone is a qcow2 overlay."})
        if self.device_path and self.format != VolumeFormat.RAW:
            raise ValidationError({"format": "A mapped block device is raw."})
