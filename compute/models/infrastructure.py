"""Clusters and the hosts in them (cloud-admin resources)."""

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from compute.choices import (
    DEFAULT_CPU_OVERCOMMIT,
    DEFAULT_DISK_OVERCOMMIT,
    DEFAULT_RAM_OVERCOMMIT,
    HostState,
)
from portal.models.tenancy import NAME_VALIDATOR

SIMULATED_SCHEMES = ("test",)
REAL_SCHEMES = ("qemu", "qemu+ssh", "qemu+tcp", "qemu+tls")
REMOTE_SCHEMES = ("qemu+ssh", "qemu+tcp", "qemu+tls")
MIN_OVERCOMMIT = 0.1


class Cluster(models.Model):
    name = models.CharField(max_length=63, unique=True, validators=[NAME_VALIDATOR])
    description = models.TextField(blank=True, max_length=1000)
    cpu_overcommit = models.FloatField(default=DEFAULT_CPU_OVERCOMMIT, validators=[MinValueValidator(MIN_OVERCOMMIT)])
    ram_overcommit = models.FloatField(default=DEFAULT_RAM_OVERCOMMIT, validators=[MinValueValidator(MIN_OVERCOMMIT)])
    disk_overcommit = models.FloatField(default=DEFAULT_DISK_OVERCOMMIT, validators=[MinValueValidator(MIN_OVERCOMMIT)])
    # EVC: the guest CPU every host of the cluster can run (filled by the scheduler issue).
    cpu_baseline_model = models.CharField(max_length=64, blank=True)
    cpu_baseline_xml = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


def validate_libvirt_uri(uri):
    parts = urlsplit(uri)
    if parts.scheme in SIMULATED_SCHEMES:
        if parts.netloc or not (parts.path == "/default" or parts.path.endswith(".xml")):
            raise ValidationError("A simulated host is test:///default or test:///abs/path/node.xml.")
        return
    if parts.scheme not in REAL_SCHEMES:
        schemes = ", ".join(SIMULATED_SCHEMES + REAL_SCHEMES)
        raise ValidationError(f"Use one of the URI schemes {schemes}.")
    if parts.scheme in REMOTE_SCHEMES and not parts.hostname:
        raise ValidationError("A remote URI names its host, e.g. qemu+ssh://root@host/system.")


class Host(models.Model):
    name = models.CharField(max_length=63, unique=True, validators=[NAME_VALIDATOR])
    uri = models.CharField(max_length=500, unique=True, validators=[validate_libvirt_uri])
    cluster = models.ForeignKey(Cluster, on_delete=models.PROTECT, related_name="hosts")
    state = models.CharField(max_length=16, choices=HostState.choices, default=HostState.DOWN)
    state_reason = models.CharField(max_length=500, blank=True)
    # Path to an SSH key or TLS certificate directory on the portal's machine; never shown.
    credentials_path = models.CharField(max_length=500, blank=True)
    simulated = models.BooleanField(default=False)
    kvm_usable = models.BooleanField(default=False)
    kvm_note = models.CharField(max_length=500, blank=True)
    facts = models.JSONField(default=dict, blank=True)
    # Copied from the facts so placement and lists need no JSON parsing.
    cpus = models.PositiveIntegerField(default=0)
    mhz = models.PositiveIntegerField(default=0)
    memory_mb = models.PositiveBigIntegerField(default=0)
    numa_nodes = models.PositiveSmallIntegerField(default=1)
    disk_gb = models.PositiveIntegerField(default=0, help_text="Local disk for instances; 0 = not tracked")
    reserved_memory_mb = models.PositiveIntegerField(default=0)
    # Where the target's QEMU listens for migrations when the host's name does not resolve
    # from its peers (e.g. tcp://10.99.0.1); blank: libvirt's default.
    migration_uri = models.CharField(max_length=200, blank=True)
    # Where QEMU on this host writes serial console logs, readable by the portal when shared.
    serial_log_dir = models.CharField(max_length=500, blank=True, default="/var/log/libvirt/qemu")
    # libvirt network for an instance's NIC when the network app gives it no port; blank: none.
    default_network = models.CharField(max_length=64, blank=True, default="default")
    refreshed = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["state"])]

    def __str__(self):
        return self.name

    @property
    def group(self):
        return f"compute.host.{self.pk}"

    @property
    def accepts_instances(self):
        return self.state == HostState.UP

    def clean(self):
        if self.uri:
            self.simulated = urlsplit(self.uri).scheme in SIMULATED_SCHEMES
