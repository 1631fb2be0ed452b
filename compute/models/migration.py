"""Migrations of instances between hosts: what was asked, how it went, and its progress samples."""

from django.conf import settings
from django.db import models

from compute.models.infrastructure import Host
from compute.models.instances import Instance

QEMU_DEFAULT_DOWNTIME_MS = 300  # QEMU's own limit when none is set
MAX_SAMPLES = 2000  # progress samples kept per migration (twice a second: over 15 minutes)


class MigrationState(models.TextChoices):
    WAITING = "waiting", "Waiting (evacuation queue)"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_MIGRATION_STATES = (MigrationState.WAITING, MigrationState.QUEUED, MigrationState.RUNNING)


class MigrationPhase(models.TextChoices):
    """The gateway's phases (hypervisor.migration.PHASE_*), plus the states before and after."""

    PENDING = "pending", "Pending"
    SETUP = "setup", "Setup"
    PRECOPY = "precopy", "Pre-copy"
    POSTCOPY = "postcopy", "Post-copy"
    COMPLETED = "completed", "Completed"


def default_options():
    return {"max_downtime_ms": QEMU_DEFAULT_DOWNTIME_MS}


class MigrationQuerySet(models.QuerySet):
    def visible_to(self, user):
        if user.is_staff:
            return self
        return self.filter(instance__project__memberships__user=user)

    def active(self):
        return self.filter(state__in=ACTIVE_MIGRATION_STATES)


class Migration(models.Model):
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="migrations")
    source = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="migrations_out")
    target = models.ForeignKey(Host, null=True, blank=True, on_delete=models.PROTECT, related_name="migrations_in")
    live = models.BooleanField(default=True)
    # bandwidth_mib_s, max_downtime_ms, auto_converge, postcopy, compressed,
    # parallel_connections, copy_storage (see compute.migration.OPTION_FIELDS)
    options = models.JSONField(default=default_options, blank=True)
    state = models.CharField(max_length=16, choices=MigrationState.choices, default=MigrationState.QUEUED)
    phase = models.CharField(max_length=16, choices=MigrationPhase.choices, default=MigrationPhase.PENDING)
    percent = models.PositiveSmallIntegerField(default=0)
    samples = models.JSONField(default=list, blank=True)
    memory_total = models.PositiveBigIntegerField(default=0)
    memory_remaining = models.PositiveBigIntegerField(default=0)
    total_ms = models.PositiveIntegerField(null=True, blank=True)
    downtime_ms = models.PositiveIntegerField(null=True, blank=True)
    data_transferred = models.PositiveBigIntegerField(null=True, blank=True)
    iterations = models.PositiveIntegerField(null=True, blank=True)
    postcopy_requested = models.BooleanField(default=False)
    postcopy_used = models.BooleanField(default=False)
    simulated = models.BooleanField(default=False)
    operation = models.OneToOneField(
        "portal.Operation", null=True, blank=True, on_delete=models.SET_NULL, related_name="migration"
    )
    # An evacuation's host: the next waiting migration starts when one of these ends.
    evacuating = models.ForeignKey(Host, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    objects = MigrationQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["state"]), models.Index(fields=["evacuating", "state"])]

    def __str__(self):
        target = self.target.name if self.target_id else "?"
        return f"{self.instance} {self.source.name} → {target}"

    @property
    def project(self):
        # Role checks (ProjectRolePermission) read the project of what they guard.
        return self.instance.project

    @property
    def group(self):
        return f"compute.migration.{self.pk}"

    @property
    def is_active(self):
        return self.state in ACTIVE_MIGRATION_STATES

    def add_sample(self, sample):
        """Append a progress sample, halving the oldest half when the list is full."""
        samples = self.samples
        if len(samples) >= MAX_SAMPLES:
            half = len(samples) // 2
            samples = samples[:half:2] + samples[half:]
        samples.append(sample)
        self.samples = samples
