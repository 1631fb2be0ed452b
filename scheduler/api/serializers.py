"""Serializers of the scheduler API. Passwords are write-only; rules live on the models."""

from datetime import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from compute.models import Host, Instance
from portal.api.base import ProjectOwnedSerializer, StrictFieldsMixin
from scheduler import choices as c
from scheduler.models import (
    AffinityRule,
    ClusterSchedulerSettings,
    HaEvent,
    PowerDriverConfig,
    Recommendation,
    ServerGroup,
)


def _as_drf(exc):
    return serializers.ValidationError(exc.message_dict if hasattr(exc, "message_dict") else exc.messages)


class SchedulerSettingsSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    cluster_name = serializers.CharField(source="cluster.name", read_only=True)
    cpu_baseline_model = serializers.CharField(source="cluster.cpu_baseline_model", read_only=True)

    class Meta:
        model = ClusterSchedulerSettings
        exclude = ["id"]
        read_only_fields = ["cluster", "drs_last_run", "dpm_last_run", "updated"]

    def validate(self, attrs):
        candidate = ClusterSchedulerSettings(
            **{
                **{f.name: getattr(self.instance, f.name) for f in ClusterSchedulerSettings._meta.concrete_fields},
                **attrs,
            }
        )
        try:
            candidate.clean()
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return attrs


class RecommendationSerializer(serializers.ModelSerializer):
    operations = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    decided_by = serializers.StringRelatedField()
    state_label = serializers.CharField(source="get_state_display", read_only=True)

    class Meta:
        model = Recommendation
        fields = [
            "id",
            "cluster",
            "kind",
            "state",
            "state_label",
            "summary",
            "moves",
            "power_actions",
            "expected_benefit",
            "imbalance_before",
            "imbalance_predicted",
            "imbalance_after",
            "error",
            "operations",
            "created",
            "decided",
            "decided_by",
            "automatic",
            "finished",
        ]
        read_only_fields = fields


class AffinityRuleSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    instances = serializers.PrimaryKeyRelatedField(many=True, queryset=Instance.objects.live())
    hosts = serializers.PrimaryKeyRelatedField(many=True, queryset=Host.objects.all(), required=False)

    class Meta:
        model = AffinityRule
        fields = ["id", "cluster", "name", "kind", "strength", "enabled", "instances", "hosts", "created"]
        read_only_fields = ["created"]

    def validate(self, attrs):
        get = lambda name, default: attrs.get(name, getattr(self.instance, name, default) if self.instance else default)  # noqa: E731
        hosts = attrs.get("hosts", list(self.instance.hosts.all()) if self.instance else [])
        instances = attrs.get("instances", list(self.instance.instances.all()) if self.instance else [])
        try:
            AffinityRule.check_members(get("kind", ""), get("cluster", None), instances, hosts)
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return attrs


class VisibleInstanceField(serializers.PrimaryKeyRelatedField):
    """Instances the caller can see; another tenant's id is 'does not exist'."""

    def get_queryset(self):
        return Instance.objects.live().visible_to(self.context["request"].user)


class ServerGroupSerializer(StrictFieldsMixin, ProjectOwnedSerializer):
    members = VisibleInstanceField(many=True, required=False)
    policy = serializers.ChoiceField(choices=c.ServerGroupPolicy.choices)

    class Meta:
        model = ServerGroup
        fields = ["id", "project", "name", "policy", "members", "created"]
        read_only_fields = ["created"]

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, (list, tuple)):
            fields["policy"].read_only = True  # Nova: a group's policy is fixed at creation
        return fields

    def validate(self, attrs):
        group = self.instance or ServerGroup(project=attrs.get("project"))
        try:
            group.check_members(attrs.get("members", []))
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return attrs


class PowerConfigSerializer(StrictFieldsMixin, serializers.Serializer):
    kind = serializers.ChoiceField(choices=c.PowerDriverKind.choices)
    address = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    port = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=65535, default=None)
    username = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    password = serializers.CharField(
        max_length=256, required=False, write_only=True, allow_blank=True, trim_whitespace=False
    )


class HostPowerSerializer(serializers.ModelSerializer):
    """A host as the scheduler sees it: power, HA liveness and its driver (no password)."""

    host = serializers.IntegerField(source="pk", read_only=True)
    power_state = serializers.SerializerMethodField()
    ha_state = serializers.SerializerMethodField()
    last_heartbeat = serializers.SerializerMethodField()
    driver = serializers.SerializerMethodField()

    class Meta:
        model = Host
        fields = [
            "host",
            "name",
            "cluster",
            "state",
            "state_reason",
            "power_state",
            "ha_state",
            "last_heartbeat",
            "driver",
        ]

    def _power(self, host):
        return getattr(host, "power", None) if hasattr(host, "power") else None

    def get_power_state(self, host) -> str:
        power = self._power(host)
        return power.power_state if power else c.PowerState.UNKNOWN

    def get_ha_state(self, host) -> str:
        power = self._power(host)
        return power.ha_state if power else c.HaState.HEALTHY

    def get_last_heartbeat(self, host) -> datetime | None:
        power = self._power(host)
        return power.last_heartbeat if power else None

    def get_driver(self, host) -> dict:
        config = getattr(host, "power_driver", None) if hasattr(host, "power_driver") else None
        if config is None:
            return {
                "kind": PowerDriverConfig._meta.get_field("kind").default,
                "address": "",
                "port": None,
                "username": "",
                "has_password": False,
            }
        return {
            "kind": config.kind,
            "address": config.address,
            "port": config.port,
            "username": config.username,
            "has_password": config.has_password,
        }


class HaEventSerializer(serializers.ModelSerializer):
    host_name = serializers.CharField(source="host.name", read_only=True, default="")
    instance_name = serializers.CharField(source="instance.name", read_only=True, default="")
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = HaEvent
        fields = [
            "id",
            "cluster",
            "host",
            "host_name",
            "instance",
            "instance_name",
            "kind",
            "kind_label",
            "detail",
            "operation",
            "created",
        ]
        read_only_fields = fields


# Answers of the settings' actions (documentation: what drs-run, dpm-run and ha-status send).


class RunOutcomeSerializer(serializers.Serializer):
    """drs-run / dpm-run: 201 with the recommendation made, 200 with none and why."""

    recommendation = RecommendationSerializer(allow_null=True, read_only=True)
    message = serializers.CharField(read_only=True)
    imbalance = serializers.FloatField(allow_null=True, read_only=True)


class AdmissionSerializer(serializers.Serializer):
    allowed = serializers.BooleanField(read_only=True)
    reason = serializers.CharField(allow_blank=True, read_only=True)
    cpu_claimed_mhz = serializers.IntegerField(read_only=True)
    cpu_limit_mhz = serializers.IntegerField(read_only=True)
    memory_claimed_mb = serializers.IntegerField(read_only=True)
    memory_limit_mb = serializers.IntegerField(read_only=True)


class HaStatusSerializer(serializers.Serializer):
    cluster = serializers.IntegerField(read_only=True)
    ha_enabled = serializers.BooleanField(read_only=True)
    admission_policy = serializers.CharField(read_only=True)
    admission = AdmissionSerializer(read_only=True)
    isolation_s = serializers.IntegerField(read_only=True)
    hosts = HostPowerSerializer(many=True, read_only=True)
    events = HaEventSerializer(many=True, read_only=True)
