"""Snapshots of an instance (libvirt domain snapshots) or of a volume (a chain of overlays)."""

from django.core.exceptions import ValidationError
from django.db import models

from portal.models.tenancy import ProjectOwned
from storage.choices import SnapshotKind, SnapshotState
from storage.models.names import DISPLAY_NAME, no_dot_dot


class Snapshot(ProjectOwned):
    name = models.CharField(max_length=63, validators=[DISPLAY_NAME, no_dot_dot])
    description = models.CharField(max_length=500, blank=True)
    instance = models.ForeignKey(
        "compute.Instance", null=True, blank=True, on_delete=models.CASCADE, related_name="snapshots"
    )
    volume = models.ForeignKey(
        "storage.Volume", null=True, blank=True, on_delete=models.CASCADE, related_name="snapshots"
    )
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    kind = models.CharField(max_length=16, choices=SnapshotKind.choices, default=SnapshotKind.INTERNAL)
    current = models.BooleanField(default=False, help_text="The point the disk or instance runs on from")
    # Internal: the domain snapshot's name. External: the frozen layer's volume name in the pool.
    libvirt_name = models.CharField(max_length=160, blank=True)
    # External: the frozen file this point keeps, its backing file, and the overlay made on top.
    layer_path = models.CharField(max_length=500, blank=True)
    layer_backing = models.CharField(max_length=500, blank=True)
    overlay_path = models.CharField(max_length=500, blank=True)
    with_memory = models.BooleanField(default=False)
    size_bytes = models.PositiveBigIntegerField(default=0)
    state = models.CharField(max_length=16, choices=SnapshotState.choices, default=SnapshotState.CREATING)
    state_reason = models.CharField(max_length=500, blank=True)
    simulated = models.BooleanField(default=False)
    quota_held = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(instance__isnull=False, volume__isnull=True)
                    | models.Q(instance__isnull=True, volume__isnull=False)
                ),
                name="snapshot_of_instance_xor_volume",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def group(self):
        return f"storage.snapshot.{self.pk}"

    @property
    def owner(self):
        """The instance or volume whose chain this snapshot belongs to."""
        return self.instance if self.instance_id else self.volume

    def clean(self):
        if bool(self.instance_id) == bool(self.volume_id):
            raise ValidationError("A snapshot is of exactly one instance or one volume.")


class RootDisk(models.Model):
    """An instance's root disk once external snapshots put overlays on top of compute's fixed
    root volume: its active file now (compute asks through compute.hooks.root_disk_path)."""

    instance = models.OneToOneField("compute.Instance", on_delete=models.CASCADE, related_name="root_disk")
    pool = models.CharField(max_length=128, help_text="The libvirt pool of the root volume and its overlays")
    libvirt_name = models.CharField(max_length=160)
    path = models.CharField(max_length=500)
    backing_path = models.CharField(max_length=500, blank=True)
    layer_seq = models.PositiveIntegerField(default=0, help_text="Overlays made so far (names their files)")

    def __str__(self):
        return f"root disk of {self.instance_id}: {self.path}"


class SnapshotLayer(models.Model):
    """One disk's frozen file in an external instance snapshot (one layer per disk, all taken at
    once). ``volume`` is empty for the root disk."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="layers")
    volume = models.ForeignKey(
        "storage.Volume", null=True, blank=True, on_delete=models.CASCADE, related_name="instance_layers"
    )
    target_dev = models.CharField(max_length=8)
    libvirt_name = models.CharField(max_length=160)
    layer_path = models.CharField(max_length=500)
    layer_backing = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["target_dev"]
        constraints = [models.UniqueConstraint(fields=["snapshot", "target_dev"], name="one_layer_per_disk")]

    def __str__(self):
        return f"{self.snapshot_id}/{self.target_dev}: {self.layer_path}"
