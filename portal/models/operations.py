"""The task log: every action on infrastructure is one Operation row."""

from django.conf import settings
from django.db import models

from portal.choices import ACTIVE_STATUSES, OperationStatus
from portal.models.tenancy import Project, ProjectOwnedQuerySet


class Operation(models.Model):
    kind = models.CharField(max_length=64, help_text="What is done, e.g. instance.create")
    target_type = models.CharField(max_length=64, help_text="app.model of the target, e.g. compute.instance")
    target_id = models.CharField(max_length=64, blank=True)
    target_name = models.CharField(max_length=255, blank=True)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="operations")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=16, choices=OperationStatus.choices, default=OperationStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    cancellable = models.BooleanField(default=False)
    cancel_requested = models.BooleanField(default=False)
    detail = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    # The lease of a running Operation: its worker renews it while the task runs; the reaper
    # (portal.leases) ends or resumes an Operation whose lease ran out (its worker is gone).
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text="host/pid of the worker holding the lease")
    task_name = models.CharField(max_length=200, blank=True, help_text="Celery task to send again on resume")
    task_args = models.JSONField(default=list, blank=True)

    objects = ProjectOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            models.Index(fields=["project", "-created"]),
            models.Index(fields=["status"]),
            models.Index(fields=["status", "lease_expires_at"]),
        ]
        constraints = [
            # One action at a time per target, enforced by the database itself.
            models.UniqueConstraint(
                fields=["target_type", "target_id"],
                condition=models.Q(status__in=ACTIVE_STATUSES) & ~models.Q(target_id=""),
                name="one_active_operation_per_target",
            )
        ]

    def __str__(self):
        return f"{self.kind} {self.target_name or self.target_id} [{self.status}]"

    @property
    def is_active(self):
        return self.status in ACTIVE_STATUSES

    @property
    def group(self):
        return f"operation.{self.pk}"

    @property
    def duration(self):
        if self.started and self.finished:
            return (self.finished - self.started).total_seconds()
        return None
