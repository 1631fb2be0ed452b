"""What DRS, DPM and HA proposed, who decided, what it started and what it achieved."""

from django.conf import settings
from django.db import models

from scheduler import choices as c


class RecommendationQuerySet(models.QuerySet):
    def open(self):
        return self.filter(state__in=c.OPEN_STATES)


class Recommendation(models.Model):
    cluster = models.ForeignKey("compute.Cluster", on_delete=models.CASCADE, related_name="recommendations")
    kind = models.CharField(max_length=8, choices=c.RecommendationKind.choices)
    state = models.CharField(
        max_length=16, choices=c.RecommendationState.choices, default=c.RecommendationState.PROPOSED
    )
    # [{instance, instance_name, source, source_name, target, target_name, reason, benefit, cost_s, explanation}]
    moves = models.JSONField(default=list, blank=True)
    # [{host, host_name, action, reason}] (DPM)
    power_actions = models.JSONField(default=list, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    expected_benefit = models.FloatField(default=0.0, help_text="Predicted gain in the planner's measure")
    imbalance_before = models.FloatField(null=True, blank=True)
    imbalance_predicted = models.FloatField(null=True, blank=True)
    imbalance_after = models.FloatField(null=True, blank=True, help_text="Measured once the moves finished")
    error = models.TextField(blank=True)
    operations = models.ManyToManyField("portal.Operation", blank=True, related_name="recommendations")
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    automatic = models.BooleanField(default=False, help_text="Approved by the automation level, not a person")
    finished = models.DateTimeField(null=True, blank=True)

    objects = RecommendationQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["cluster", "kind", "state"])]

    def __str__(self):
        return f"{self.kind} recommendation {self.pk} for {self.cluster} [{self.state}]"

    @property
    def is_open(self):
        return self.state in c.OPEN_STATES
