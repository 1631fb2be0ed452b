"""Metric samples (one wide row per object and instant), the collector's last counters per
host, and threshold alarms."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from compute.models.infrastructure import Host
from compute.models.instances import Instance
from portal.models.tenancy import Project

RAW = 0  # resolution of collected samples; rollups are named by their bucket in seconds
ONE_MINUTE = 60
TEN_MINUTES = 600
RESOLUTIONS = (RAW, ONE_MINUTE, TEN_MINUTES)
MAX_ALARM_DURATION_S = 86_400


class Scope(models.TextChoices):
    INSTANCE = "instance", "Instance"
    HOST = "host", "Host"
    CLUSTER = "cluster", "Cluster"


# Metric name -> (unit, help). The names are the sample models' column names.
INSTANCE_METRICS = {
    "cpu_pct": ("%", "CPU use, % of the instance's vCPUs"),
    "mem_used_mb": ("MiB", "memory in use by the guest (RSS)"),
    "mem_balloon_mb": ("MiB", "current balloon size"),
    "mem_available_mb": ("MiB", "memory the guest sees as available"),
    "disk_read_bps": ("B/s", "disk read bytes per second"),
    "disk_write_bps": ("B/s", "disk write bytes per second"),
    "disk_read_iops": ("1/s", "disk read requests per second"),
    "disk_write_iops": ("1/s", "disk write requests per second"),
    "net_rx_bps": ("B/s", "network received bytes per second"),
    "net_tx_bps": ("B/s", "network sent bytes per second"),
    "net_rx_pps": ("1/s", "network received packets per second"),
    "net_tx_pps": ("1/s", "network sent packets per second"),
}
HOST_METRICS = {
    "cpu_pct": ("%", "host CPU busy, % of all CPUs"),
    "load": ("CPUs", "busy CPUs averaged over the interval"),
    "mem_used_mb": ("MiB", "host memory in use"),
    "mem_free_mb": ("MiB", "host memory free"),
    "running_instances": ("", "running domains"),
}
METRIC_ALIASES = {"cpu": "cpu_pct", "memory": "mem_used_mb", "mem": "mem_used_mb"}


class InstanceSample(models.Model):
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="metric_samples")
    ts = models.PositiveBigIntegerField(help_text="Unix time in seconds; a rollup's bucket start")
    resolution = models.PositiveIntegerField(default=RAW)
    simulated = models.BooleanField(default=False)
    cpu_pct = models.FloatField(null=True, blank=True)
    mem_used_mb = models.FloatField(null=True, blank=True)
    mem_balloon_mb = models.FloatField(null=True, blank=True)
    mem_available_mb = models.FloatField(null=True, blank=True)
    disk_read_bps = models.FloatField(null=True, blank=True)
    disk_write_bps = models.FloatField(null=True, blank=True)
    disk_read_iops = models.FloatField(null=True, blank=True)
    disk_write_iops = models.FloatField(null=True, blank=True)
    net_rx_bps = models.FloatField(null=True, blank=True)
    net_tx_bps = models.FloatField(null=True, blank=True)
    net_rx_pps = models.FloatField(null=True, blank=True)
    net_tx_pps = models.FloatField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["instance", "resolution", "ts"]), models.Index(fields=["resolution", "ts"])]


class HostSample(models.Model):
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="metric_samples")
    ts = models.PositiveBigIntegerField()
    resolution = models.PositiveIntegerField(default=RAW)
    simulated = models.BooleanField(default=False)
    cpu_pct = models.FloatField(null=True, blank=True)
    load = models.FloatField(null=True, blank=True)
    mem_used_mb = models.FloatField(null=True, blank=True)
    mem_free_mb = models.FloatField(null=True, blank=True)
    running_instances = models.FloatField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["host", "resolution", "ts"]), models.Index(fields=["resolution", "ts"])]


class MetricCursor(models.Model):
    """The counters of a host's last collection (rates are differences against them) and the
    values derived then (the Prometheus export reads these, one row per host)."""

    host = models.OneToOneField(Host, on_delete=models.CASCADE, related_name="metric_cursor")
    at = models.FloatField(default=0.0)
    node = models.JSONField(default=dict, blank=True)
    domains = models.JSONField(default=dict, blank=True)
    latest = models.JSONField(default=dict, blank=True)


class Comparison(models.TextChoices):
    GT = "gt", ">"
    GE = "ge", "≥"
    LT = "lt", "<"
    LE = "le", "≤"


class AlarmRuleQuerySet(models.QuerySet):
    def visible_to(self, user):
        if user.is_staff:
            return self
        return self.filter(project__memberships__user=user)


class AlarmRule(models.Model):
    """metric <comparison> threshold held for duration_s raises an alarm; it clears when the
    condition no longer holds. Project rules watch the project's instances (or one of them);
    cloud-wide rules (no project) are a cloud admin's and may watch hosts."""

    name = models.CharField(max_length=63)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="alarm_rules")
    scope = models.CharField(
        max_length=16, choices=[(Scope.INSTANCE, "Instance"), (Scope.HOST, "Host")], default=Scope.INSTANCE
    )
    target_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="One instance or host; empty = all")
    metric = models.CharField(max_length=32)
    comparison = models.CharField(max_length=2, choices=Comparison.choices, default=Comparison.GT)
    threshold = models.FloatField()
    duration_s = models.PositiveIntegerField(default=0)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    objects = AlarmRuleQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return f"{self.name}: {self.metric} {self.get_comparison_display()} {self.threshold:g}"

    def clean(self):
        known = INSTANCE_METRICS if self.scope == Scope.INSTANCE else HOST_METRICS
        if self.metric not in known:
            raise ValidationError({"metric": f"A {self.scope} metric is one of {', '.join(known)}."})
        if self.scope == Scope.HOST and self.project_id is not None:
            raise ValidationError({"scope": "Host alarms are cloud-wide rules (no project)."})
        if self.duration_s > MAX_ALARM_DURATION_S:
            raise ValidationError({"duration_s": f"At most {MAX_ALARM_DURATION_S} seconds."})


class AlarmState(models.TextChoices):
    PENDING = "pending", "Pending (condition not held long enough yet)"
    RAISED = "raised", "Raised"
    CLEARED = "cleared", "Cleared"


OPEN_ALARM_STATES = (AlarmState.PENDING, AlarmState.RAISED)


class AlarmQuerySet(models.QuerySet):
    def visible_to(self, user):
        if user.is_staff:
            return self
        return self.filter(project__memberships__user=user)


class Alarm(models.Model):
    rule = models.ForeignKey(AlarmRule, on_delete=models.CASCADE, related_name="alarms")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="alarms")
    scope = models.CharField(max_length=16, choices=Scope.choices)
    object_id = models.PositiveBigIntegerField()
    object_name = models.CharField(max_length=255, blank=True)
    state = models.CharField(max_length=16, choices=AlarmState.choices, default=AlarmState.PENDING)
    value = models.FloatField(null=True, blank=True)
    breach_since = models.FloatField(help_text="Unix time the condition started to hold")
    raised_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)

    objects = AlarmQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "object_id"],
                condition=models.Q(state__in=OPEN_ALARM_STATES),
                name="one_open_alarm_per_rule_and_object",
            )
        ]

    def __str__(self):
        return f"{self.rule.name} on {self.scope} {self.object_name or self.object_id} [{self.state}]"
