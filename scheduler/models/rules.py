"""Placement rules: admin affinity rules per cluster and tenants' server groups (Nova's)."""

from django.core.exceptions import ValidationError
from django.db import models

from portal.models.tenancy import NAME_VALIDATOR, ProjectOwned
from scheduler import choices as c


class AffinityRule(models.Model):
    cluster = models.ForeignKey("compute.Cluster", on_delete=models.CASCADE, related_name="affinity_rules")
    name = models.CharField(max_length=c.MAX_NAME, validators=[NAME_VALIDATOR])
    kind = models.CharField(max_length=32, choices=c.RuleKind.choices)
    strength = models.CharField(max_length=8, choices=c.RuleStrength.choices, default=c.RuleStrength.MUST)
    enabled = models.BooleanField(default=True)
    instances = models.ManyToManyField("compute.Instance", related_name="affinity_rules")
    hosts = models.ManyToManyField("compute.Host", blank=True, related_name="affinity_rules")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["cluster", "name"]
        constraints = [models.UniqueConstraint(fields=["cluster", "name"], name="affinity_rule_name_per_cluster")]

    def __str__(self):
        return self.name

    @staticmethod
    def check_members(kind, cluster, instances, hosts):
        """The rules about members, shared by the API and the admin (M2M is set after save)."""
        if kind in c.HOST_RULE_KINDS and not hosts:
            raise ValidationError({"hosts": "A VM-host rule names at least one host."})
        if kind not in c.HOST_RULE_KINDS and hosts:
            raise ValidationError({"hosts": "A VM-VM rule names no hosts."})
        strangers = [h.name for h in hosts if h.cluster_id != cluster.pk]
        if strangers:
            raise ValidationError({"hosts": f"Not in cluster {cluster}: {', '.join(strangers)}."})
        if len(instances) < (1 if kind in c.HOST_RULE_KINDS else 2):
            raise ValidationError({"instances": "Name the instances the rule keeps together or apart."})


class ServerGroup(ProjectOwned):
    name = models.CharField(max_length=c.MAX_NAME, validators=[NAME_VALIDATOR])
    policy = models.CharField(max_length=32, choices=c.ServerGroupPolicy.choices)
    members = models.ManyToManyField("compute.Instance", blank=True, related_name="server_groups")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="server_group_name_per_project")]

    def __str__(self):
        return self.name

    def check_members(self, instances):
        others = [i.name for i in instances if i.project_id != self.project_id]
        if others:
            raise ValidationError({"members": f"Instances of another project: {', '.join(others)}."})
        taken = ServerGroup.objects.filter(members__in=instances).exclude(pk=self.pk).values_list("name", flat=True)
        if taken:
            raise ValidationError(
                {"members": f"An instance is in one server group at most (already in {', '.join(sorted(set(taken)))})."}
            )
