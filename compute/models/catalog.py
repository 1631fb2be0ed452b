"""What instances are made from: flavors, images and key pairs."""

import base64
import hashlib

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from compute.choices import (
    DEFAULT_POOL,
    CpuPolicy,
    DiskBus,
    ImageFormat,
    ImageState,
    OsType,
    Visibility,
    WatchdogAction,
)
from portal.models.tenancy import NAME_VALIDATOR, Project, ProjectOwned

MAX_VCPUS = 256
MAX_RAM_MB = 4 * 1024 * 1024
MAX_DISK_GB = 64 * 1024
MAX_NUMA_NODES = 8
MAX_NIC_QUEUES = 16
MAX_CPU_SHARES = 262_144  # cgroups v1 cpu.shares upper bound
MAX_PUBLIC_KEY = 16 * 1024
MAX_MEMORY_SLOTS = 255  # QEMU/libvirt limit of DIMM slots on x86
VOLUME_NAME = RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", "Letters, digits, dots, dashes, underscores.")
SHA256_HEX = RegexValidator(r"^([0-9a-f]{64})?$", "A SHA-256 checksum is 64 lowercase hex digits.")


class CatalogQuerySet(models.QuerySet):
    """Public items plus those of the user's projects (staff see all)."""

    def visible_to(self, user):
        if user.is_staff:
            return self
        return self.filter(
            models.Q(visibility=Visibility.PUBLIC) | models.Q(project__memberships__user=user)
        ).distinct()

    def usable_in(self, project):
        return self.filter(models.Q(visibility=Visibility.PUBLIC) | models.Q(project=project))


class CatalogItem(models.Model):
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.PUBLIC)
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.PROTECT, related_name="%(app_label)s_%(class)ss"
    )

    objects = CatalogQuerySet.as_manager()

    class Meta:
        abstract = True

    def clean_visibility(self):
        if self.visibility == Visibility.PROJECT and self.project_id is None:
            raise ValidationError({"project": "A project flavor or image names its project."})
        if self.visibility == Visibility.PUBLIC and self.project_id is not None:
            raise ValidationError({"project": "A public item belongs to no project."})


class Flavor(CatalogItem):
    name = models.CharField(max_length=63, unique=True, validators=[NAME_VALIDATOR])
    vcpus = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(MAX_VCPUS)])
    ram_mb = models.PositiveIntegerField(validators=[MinValueValidator(64), MaxValueValidator(MAX_RAM_MB)])
    disk_gb = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(MAX_DISK_GB)])
    # CPU QoS: relative weight, a guaranteed MHz (admission in placement), a cap in % of a core.
    cpu_shares = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(2), MaxValueValidator(MAX_CPU_SHARES)]
    )
    cpu_reservation_mhz = models.PositiveIntegerField(default=0)
    cpu_limit_pct = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Cap per vCPU, in % of one host CPU",
    )
    cpu_policy = models.CharField(max_length=16, choices=CpuPolicy.choices, default=CpuPolicy.SHARED)
    numa_nodes = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(MAX_NUMA_NODES)]
    )
    hugepages = models.BooleanField(default=False)
    nic_queues = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_NIC_QUEUES)]
    )
    disk_bus = models.CharField(max_length=16, choices=DiskBus.choices, default=DiskBus.VIRTIO)
    watchdog = models.CharField(max_length=16, choices=WatchdogAction.choices, default=WatchdogAction.NONE, blank=True)
    linked_clone = models.BooleanField(default=True, help_text="Root disk as a qcow2 overlay of the image")
    # Memory hotplug: <maxMemory slots=...>; 0 slots = off.
    memory_slots = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(MAX_MEMORY_SLOTS)])
    max_ram_mb = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_RAM_MB)],
        help_text="Memory hotplug ceiling (with memory slots)",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["vcpus", "ram_mb", "name"]

    def __str__(self):
        return self.name

    def clean(self):
        self.clean_visibility()
        if self.memory_slots and not (self.max_ram_mb and self.ram_mb and self.max_ram_mb > self.ram_mb):
            raise ValidationError({"max_ram_mb": "Memory hotplug needs a ceiling above the flavor's RAM."})
        if self.vcpus and self.numa_nodes and self.vcpus % self.numa_nodes:
            raise ValidationError({"numa_nodes": "vCPUs must split evenly over the NUMA nodes."})
        if self.ram_mb and self.numa_nodes and self.ram_mb % self.numa_nodes:
            raise ValidationError({"numa_nodes": "RAM must split evenly over the NUMA nodes."})


class Image(CatalogItem):
    name = models.CharField(max_length=63, validators=[NAME_VALIDATOR])
    format = models.CharField(max_length=8, choices=ImageFormat.choices, default=ImageFormat.QCOW2)
    size_bytes = models.PositiveBigIntegerField(default=0)
    virtual_size_gb = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    checksum_sha256 = models.CharField(max_length=64, blank=True, validators=[SHA256_HEX])
    min_disk_gb = models.PositiveIntegerField(default=0)
    min_ram_mb = models.PositiveIntegerField(default=0)
    os_type = models.CharField(max_length=16, choices=OsType.choices, default=OsType.LINUX)
    pool = models.CharField(max_length=128, default=DEFAULT_POOL, validators=[VOLUME_NAME])
    volume = models.CharField(max_length=128, validators=[VOLUME_NAME])
    state = models.CharField(max_length=16, choices=ImageState.choices, default=ImageState.ACTIVE)
    state_reason = models.CharField(max_length=500, blank=True)
    # Direct kernel boot (like Glance's kernel_id / ramdisk_id): paths on the hosts.
    kernel_path = models.CharField(max_length=500, blank=True)
    initrd_path = models.CharField(max_length=500, blank=True)
    kernel_cmdline = models.CharField(max_length=1000, blank=True)
    # The uploaded or imported data in the portal's image store (compute.tasks.images); never shown.
    file_path = models.CharField(max_length=500, blank=True, editable=False)
    # An image made from an instance's root disk (Nova's createImage, Glance's instance_uuid and
    # image_type "snapshot"): counted against the project's image quota; its key/value properties.
    instance_uuid = models.UUIDField(null=True, blank=True, editable=False)
    properties = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["name", "project"], name="image_name_per_project")]

    def __str__(self):
        return self.name

    def clean(self):
        self.clean_visibility()
        if (self.initrd_path or self.kernel_cmdline) and not self.kernel_path:
            raise ValidationError({"kernel_path": "An initrd or kernel command line needs a kernel."})


def ssh_fingerprint(public_key):
    """OpenSSH's SHA256 fingerprint; raises ValidationError for anything not a public key."""
    parts = public_key.strip().split()
    if len(parts) < 2:
        raise ValidationError({"public_key": "Paste an OpenSSH public key (type, base64 key, comment)."})
    try:
        load_ssh_public_key(" ".join(parts[:2]).encode())
        blob = base64.b64decode(parts[1], validate=True)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValidationError({"public_key": f"Not a usable OpenSSH public key: {exc}"}) from exc
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


class KeyPair(ProjectOwned):
    name = models.CharField(max_length=63, validators=[NAME_VALIDATOR])
    public_key = models.TextField(max_length=MAX_PUBLIC_KEY)
    fingerprint = models.CharField(max_length=64, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="keypair_name_per_project")]

    def __str__(self):
        return self.name

    def clean(self):
        if self.public_key:
            self.public_key = self.public_key.strip()
            self.fingerprint = ssh_fingerprint(self.public_key)
