from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework import serializers
from rest_framework.reverse import reverse

from portal.api.base import StrictFieldsMixin, TenantSafeMixin
from portal.models import ApiToken, AuditEvent, Membership, Operation, Project, Quota


class OperationSerializer(TenantSafeMixin, serializers.ModelSerializer):
    redacted_fields = ("message", "error", "detail")
    url = serializers.SerializerMethodField()
    requester = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    duration = serializers.FloatField(read_only=True, allow_null=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = Operation
        fields = [
            "id",
            "url",
            "kind",
            "target_type",
            "target_id",
            "target_name",
            "project",
            "requester",
            "status",
            "status_label",
            "progress",
            "message",
            "error",
            "task_id",
            "cancellable",
            "cancel_requested",
            "detail",
            "created",
            "started",
            "finished",
            "duration",
        ]
        read_only_fields = fields

    def get_url(self, op) -> str:
        # Built without the request so tasks can serialize for websocket messages too.
        return reverse("portal-api:operation-detail", args=[op.pk])


# The documented answer of an action that starts an Operation (portal.api.base.accepted):
# `@extend_schema(responses=ACCEPTED)`.
ACCEPTED = {202: OperationSerializer}


class ProjectSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "description", "created", "role"]
        read_only_fields = ["created"]

    def get_role(self, project) -> str | None:
        request = self.context.get("request")
        return project.role_of(request.user) if request else None


class MembershipSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", queryset=get_user_model().objects.filter(is_active=True))
    project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all())

    class Meta:
        model = Membership
        fields = ["id", "project", "user", "role", "created"]
        read_only_fields = ["created"]

    def validate_project(self, project):
        user = self.context["request"].user
        if project.role_of(user) != "admin":
            if not Project.objects.visible_to(user).filter(pk=project.pk).exists():
                raise serializers.ValidationError("Invalid pk - object does not exist.")
            raise serializers.ValidationError("Only the project's admins manage its members.")
        return project


class QuotaSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Quota
        fields = ["id", "project", "resource", "limit", "in_use"]
        read_only_fields = ["project", "resource", "in_use"]


class ApiTokenSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    expires_in_days = serializers.IntegerField(
        write_only=True,
        required=False,
        min_value=1,
        max_value=settings.NUBES_TOKEN_MAX_DAYS,
        help_text="Days until the token expires; the longest lifetime (NUBES_TOKEN_MAX_DAYS) when left out.",
    )

    class Meta:
        model = ApiToken
        fields = ["id", "name", "key_id", "created", "expires", "last_used", "revoked", "expires_in_days"]
        read_only_fields = ["key_id", "created", "expires", "last_used", "revoked"]

    def create(self, validated_data):
        days = validated_data.pop("expires_in_days", None)
        expires = timezone.now() + timedelta(days=days or settings.NUBES_TOKEN_MAX_DAYS)
        token, plain = ApiToken.issue(self.context["request"].user, validated_data["name"], expires)
        token.plain = plain
        return token

    def to_representation(self, token):
        data = super().to_representation(token)
        if getattr(token, "plain", None):
            data["token"] = token.plain  # shown once, never stored
        return data


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created",
            "actor_name",
            "project",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "source_ip",
            "outcome",
            "detail",
        ]
        read_only_fields = fields
