from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from catalog.models import Backup, Service, ServiceTemplate
from compute.models import Flavor, Image
from portal.api.base import ProjectOwnedSerializer, StrictFieldsMixin, TenantSafeMixin, VisibleRelatedField
from portal.models.tenancy import NAME_VALIDATOR

MAX_NETWORKS = 8


class ServiceTemplateSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    image = VisibleRelatedField(queryset=Image.objects.all())
    flavors = serializers.PrimaryKeyRelatedField(queryset=Flavor.objects.all(), many=True)

    class Meta:
        model = ServiceTemplate
        fields = [
            "id",
            "name",
            "description",
            "image",
            "flavors",
            "parameter_schema",
            "actions",
            "readable_paths",
            "log_path",
            "hooks",
            "enabled",
            "created",
        ]
        read_only_fields = ["created"]

    def validate(self, attrs):
        # The model's own checks (schemas, action and script names), as a 400 keyed by field.
        fields = {k: v for k, v in attrs.items() if k != "flavors"}
        probe = (
            ServiceTemplate(**{f.name: getattr(self.instance, f.name) for f in ServiceTemplate._meta.concrete_fields})
            if self.instance
            else ServiceTemplate()
        )
        for name, value in fields.items():
            setattr(probe, name, value)
        try:
            probe.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return attrs


class ServiceSerializer(TenantSafeMixin, serializers.ModelSerializer):
    redacted_fields = ("status_reason",)
    template_name = serializers.CharField(source="template.name", read_only=True)
    replicas = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    replication = serializers.SerializerMethodField(
        help_text="What replica-status last reported: a replica's lag_s and lag_bytes, a primary's replicas"
    )

    def get_replication(self, service) -> dict | None:
        return service.inventory.get("replication")

    class Meta:
        model = Service
        fields = [
            "id",
            "project",
            "name",
            "template",
            "template_name",
            "flavor",
            "instance",
            "data_volume",
            "restored_from",
            "replica_of",
            "replication_slot",
            "replicas",
            "replication",
            "parameters",
            "state",
            "status_reason",
            "inventory",
            "backup_every_hours",
            "backup_keep",
            "created",
        ]
        read_only_fields = fields


class ReplicaSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.RegexField(NAME_VALIDATOR.regex, max_length=63)
    flavor = VisibleRelatedField(queryset=Flavor.objects.all(), required=False, help_text="The primary's by default")


class ServiceOrderSerializer(StrictFieldsMixin, ProjectOwnedSerializer):
    template = serializers.PrimaryKeyRelatedField(queryset=ServiceTemplate.objects.filter(enabled=True))
    flavor = VisibleRelatedField(queryset=Flavor.objects.all())
    parameters = serializers.JSONField(required=False, default=dict)
    networks = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, write_only=True, max_length=MAX_NETWORKS
    )
    backup = VisibleRelatedField(
        queryset=Backup.objects.all(), required=False, help_text="Restore this backup into the new service"
    )

    class Meta:
        model = Service
        fields = ["project", "template", "name", "flavor", "parameters", "networks", "backup"]


class BackupSerializer(TenantSafeMixin, serializers.ModelSerializer):
    redacted_fields = ("status_reason",)

    class Meta:
        model = Backup
        fields = [
            "id",
            "project",
            "name",
            "service",
            "service_name",
            "template",
            "volume",
            "state",
            "status_reason",
            "scheduled",
            "databases",
            "size_bytes",
            "dump_bytes",
            "started",
            "finished",
            "duration_s",
            "dump_s",
            "created",
        ]
        read_only_fields = fields


class BackupScheduleSerializer(StrictFieldsMixin, serializers.Serializer):
    every_hours = serializers.IntegerField(allow_null=True, help_text="Hours between backups; null: none")
    keep = serializers.IntegerField(default=7, help_text="Scheduled backups kept (the oldest go)")


class ActionSerializer(StrictFieldsMixin, serializers.Serializer):
    action = serializers.CharField(max_length=40)
    arguments = serializers.JSONField(required=False, default=dict)


class GrowSerializer(StrictFieldsMixin, serializers.Serializer):
    data_volume_gb = serializers.IntegerField(help_text="The data volume's new size (GiB), more than now")


class ServiceResizeSerializer(StrictFieldsMixin, serializers.Serializer):
    flavor = VisibleRelatedField(queryset=Flavor.objects.all(), help_text="One of the template's flavors")
