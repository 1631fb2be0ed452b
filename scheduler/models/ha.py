"""Host liveness and power as the scheduler last saw them, and the HA event log."""

from django.db import models

from compute.models import Instance
from scheduler import choices as c


class HostPower(models.Model):
    host = models.OneToOneField("compute.Host", on_delete=models.CASCADE, related_name="power")
    power_state = models.CharField(max_length=16, choices=c.PowerState.choices, default=c.PowerState.UNKNOWN)
    ha_state = models.CharField(max_length=16, choices=c.HaState.choices, default=c.HaState.HEALTHY)
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    missed_heartbeats = models.PositiveIntegerField(default=0)
    missing_since = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    woken = models.DateTimeField(null=True, blank=True, help_text="Last time it came up from standby or off")
    changed = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "host power"

    def __str__(self):
        return f"{self.host}: {self.power_state}, {self.ha_state}"


class HaEventQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Cloud admins see every event; a tenant only those of instances it may see."""

        if not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        return self.filter(instance__in=Instance.objects.visible_to(user))


class HaEvent(models.Model):
    cluster = models.ForeignKey("compute.Cluster", on_delete=models.CASCADE, related_name="ha_events")
    host = models.ForeignKey("compute.Host", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    instance = models.ForeignKey("compute.Instance", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=32, choices=c.HaEventKind.choices)
    detail = models.CharField(max_length=500, blank=True)
    operation = models.ForeignKey(
        "portal.Operation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = HaEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return f"{self.kind} {self.host or ''} {self.instance or ''}".strip()
