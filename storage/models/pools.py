"""Storage pools: libvirt pools an admin defines on one or more hosts."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Sum

from storage.choices import (
    BYTES_PER_GIB,
    DEFAULT_OVERCOMMIT,
    MAX_OVERCOMMIT,
    SHAREABLE_POOL_TYPES,
    PoolState,
    PoolType,
    SourceFormat,
    VolumeState,
    inside_roots,
    storage_roots,
)
from storage.models.names import DISPLAY_NAME, LIBVIRT_NAME, no_dot_dot

# What each pool type needs besides its name (mirrors hypervisor.storage.build_pool_xml).
REQUIRED_FIELDS = {
    PoolType.DIR: ("target_path",),
    PoolType.NETFS: ("source_host", "source_dir", "target_path"),
    PoolType.LOGICAL: ("source_name",),
    PoolType.ISCSI: ("source_host", "source_device", "target_path"),
    PoolType.ISCSI_DIRECT: ("source_host", "source_device"),
    PoolType.RBD: ("source_host", "source_name"),
    PoolType.DISK: ("source_device", "target_path"),
}
PATH_FIELDS = ("target_path", "source_device")


class StoragePool(models.Model):
    name = models.CharField(max_length=63, unique=True, validators=[DISPLAY_NAME, no_dot_dot])
    libvirt_name = models.CharField(
        max_length=128,
        validators=[LIBVIRT_NAME, no_dot_dot],
        help_text="The pool's name in libvirt on every host that sees it",
    )
    type = models.CharField(max_length=16, choices=PoolType.choices, default=PoolType.DIR)
    hosts = models.ManyToManyField(
        "compute.Host", related_name="storage_pools", help_text="Hosts that see this pool (several: shared storage)"
    )
    target_path = models.CharField(max_length=500, blank=True)
    source_host = models.CharField(max_length=255, blank=True, help_text="NFS server, iSCSI portal or Ceph monitor")
    source_dir = models.CharField(max_length=500, blank=True, help_text="NFS export")
    source_name = models.CharField(max_length=128, blank=True, help_text="LVM volume group or Ceph pool")
    source_device = models.CharField(max_length=500, blank=True, help_text="iSCSI IQN or whole-disk device")
    source_format = models.CharField(
        max_length=16,
        choices=SourceFormat.choices,
        blank=True,
        help_text="netfs only: NFS (the default) or GlusterFS",
    )
    state = models.CharField(max_length=16, choices=PoolState.choices, default=PoolState.DEFINING)
    state_reason = models.CharField(max_length=500, blank=True)
    capacity_bytes = models.PositiveBigIntegerField(default=0)
    allocation_bytes = models.PositiveBigIntegerField(default=0)
    available_bytes = models.PositiveBigIntegerField(default=0)
    overcommit_limit = models.FloatField(
        default=DEFAULT_OVERCOMMIT,
        validators=[MinValueValidator(1.0), MaxValueValidator(MAX_OVERCOMMIT)],
        help_text="Provisioned (sum of virtual sizes) may reach this multiple of the capacity",
    )
    simulated = models.BooleanField(default=False)
    # A LUN pool's LUNs as its hosts listed them at the last define, start or refresh:
    # [{"name": "unit:0:0:1", "capacity_bytes": ...}] (libvirt's names; the portal reads no host).
    luns = models.JSONField(default=list, blank=True)
    # Hosts (ids) where the portal made a dir pool's target directory (it was missing when the pool
    # first started there): the pool's delete removes that directory again, and only that one.
    built_on = models.JSONField(default=list, blank=True, editable=False)
    refreshed = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def group(self):
        return f"storage.storagepool.{self.pk}"

    @property
    def shareable(self):
        return self.type in SHAREABLE_POOL_TYPES

    def clean(self):
        missing = {
            field: "Required for this pool type."
            for field in REQUIRED_FIELDS.get(self.type, ())
            if not getattr(self, field)
        }
        if missing:
            raise ValidationError(missing)
        for field in PATH_FIELDS:
            value = getattr(self, field)
            if value and value.startswith("/") and not inside_roots(value):
                roots = ", ".join(storage_roots())
                raise ValidationError({field: f"{value!r} is outside the allowed storage roots ({roots})."})
        if self.target_path and not self.target_path.startswith("/"):
            raise ValidationError({"target_path": "An absolute path, please."})
        if self.source_format and self.type != PoolType.NETFS:
            raise ValidationError({"source_format": "Only a netfs pool has a source format."})

    def provisioned_gb(self, exclude=None):
        """Sum of the virtual sizes of the pool's volumes (thin ones count in full)."""
        volumes = self.volumes.exclude(state=VolumeState.DELETING).filter(device_path="")
        if exclude is not None:
            volumes = volumes.exclude(pk=exclude.pk)
        return volumes.aggregate(total=Sum("size_gb"))["total"] or 0

    def lun_rows(self):
        """The LUNs with the volume each is mapped as (None when unmapped), for the API and page."""
        mapped = {v.device_path: v for v in self.volumes.exclude(device_path="").select_related("project")}
        return [{**lun, "volume": mapped.get(lun["name"])} for lun in self.luns]

    @property
    def capacity_gb(self):
        return self.capacity_bytes / BYTES_PER_GIB

    @property
    def overcommit_ratio(self):
        return self.provisioned_gb() / self.capacity_gb if self.capacity_bytes else 0.0
