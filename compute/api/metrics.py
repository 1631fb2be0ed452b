"""/api/v1/metrics/ (a series of one metric), /api/v1/alarm-rules/ and /api/v1/alarms/.

Tenants read their instances' metrics and alarms and keep rules on their projects; host and
cluster series and cloud-wide rules are for cloud admins."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.response import Response

from compute.metrics import query
from compute.models import Alarm, AlarmRule, Cluster, Host, Instance
from compute.models.metrics import AlarmState, Scope
from portal.api.base import StrictFieldsMixin
from portal.api.permissions import ProjectRolePermission
from portal.models import Project


class MetricsViewSet(viewsets.ViewSet):
    """GET ?scope=instance|host|cluster&id=<pk>&metric=cpu_pct&start=<unix s>&end=<unix s>&step=<s>"""

    permission_classes = [ProjectRolePermission]

    @extend_schema(
        parameters=[
            OpenApiParameter(name, OpenApiTypes.STR, required=name in ("scope", "id", "metric"))
            for name in ("scope", "id", "metric", "start", "end", "step")
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def list(self, request):
        series_request = query.parse(request.query_params)
        visible = {
            Scope.INSTANCE: Instance.objects.visible_to(request.user),
            Scope.HOST: Host.objects.all() if request.user.is_staff else Host.objects.none(),
            Scope.CLUSTER: Cluster.objects.all() if request.user.is_staff else Cluster.objects.none(),
        }[series_request.scope]
        if not visible.filter(pk=series_request.object_id).exists():
            return Response({"detail": "Not found."}, status=404)
        return Response(query.series(series_request))


class AlarmRuleSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.none(), required=False, allow_null=True)

    class Meta:
        model = AlarmRule
        fields = [
            "id",
            "name",
            "project",
            "scope",
            "target_id",
            "metric",
            "comparison",
            "threshold",
            "duration_s",
            "enabled",
            "created",
        ]
        read_only_fields = ["created"]

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:
            fields["project"].queryset = Project.objects.writable_by(request.user)
        return fields

    def validate(self, attrs):
        attrs = super().validate(attrs)
        rule = AlarmRule(**{**self._current(), **attrs})
        user = self.context["request"].user
        if rule.project_id is None and not user.is_staff:
            raise serializers.ValidationError({"project": "Name a project; cloud-wide rules are for cloud admins."})
        rule.clean()
        if rule.target_id is not None and rule.scope == Scope.INSTANCE:
            instances = Instance.objects.visible_to(user)
            if rule.project_id is not None:
                instances = instances.filter(project_id=rule.project_id)
            if not instances.filter(pk=rule.target_id).exists():
                raise serializers.ValidationError({"target_id": "No such instance in the rule's project."})
        return attrs

    def _current(self):
        if self.instance is None:
            return {}
        return {
            name: getattr(self.instance, name)
            for name in ("name", "project", "scope", "target_id", "metric", "comparison", "threshold", "duration_s")
        }


class AlarmSerializer(serializers.ModelSerializer):
    """What the API lists and the collector publishes when an alarm is raised or cleared."""

    rule_name = serializers.CharField(source="rule.name", read_only=True)
    metric = serializers.CharField(source="rule.metric", read_only=True)
    comparison = serializers.CharField(source="rule.comparison", read_only=True)
    threshold = serializers.FloatField(source="rule.threshold", read_only=True)

    class Meta:
        model = Alarm
        fields = [
            "id",
            "rule",
            "rule_name",
            "metric",
            "comparison",
            "threshold",
            "project",
            "scope",
            "object_id",
            "object_name",
            "state",
            "value",
            "raised_at",
            "cleared_at",
        ]
        read_only_fields = fields


class AlarmRuleViewSet(viewsets.ModelViewSet):
    queryset = AlarmRule.objects.select_related("project")
    serializer_class = AlarmRuleSerializer
    permission_classes = [ProjectRolePermission]
    filterset_fields = ["project", "scope", "metric", "enabled"]

    def get_queryset(self):
        return super().get_queryset().visible_to(self.request.user)

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)


class AlarmViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Alarm.objects.select_related("rule").exclude(state=AlarmState.PENDING)
    serializer_class = AlarmSerializer
    permission_classes = [ProjectRolePermission]
    filterset_fields = ["state", "scope", "object_id", "rule", "project"]

    def get_queryset(self):
        return super().get_queryset().visible_to(self.request.user)
