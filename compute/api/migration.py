"""/api/v1/migrations/: list and follow migrations (tenants see their instances'), start one
or evacuate a host (cloud admins), cancel, switch to post-copy. Starting answers 202 with
the Operation; evacuating with the migrations started, how many wait, and the wake Operation
(and the standby hosts it wakes) when the evacuation needs standby hosts first."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from compute.models import Host, Instance, Migration
from compute.services import migration as service
from compute.services.evacuation import DEFAULT_EVACUATION_BATCH, MAX_EVACUATION_BATCH, evacuate_host
from portal.api.base import StrictFieldsMixin, TenantSafeMixin, accepted
from portal.api.permissions import ProjectRolePermission
from portal.api.serializers import ACCEPTED, OperationSerializer

MIGRATION_FIELDS = [
    "id",
    "instance",
    "instance_name",
    "project",
    "source",
    "source_name",
    "target",
    "target_name",
    "live",
    "options",
    "state",
    "state_label",
    "phase",
    "percent",
    "memory_total",
    "memory_remaining",
    "total_ms",
    "downtime_ms",
    "data_transferred",
    "iterations",
    "postcopy_requested",
    "postcopy_used",
    "simulated",
    "operation",
    "evacuating",
    "reason",
    "error",
    "requester",
    "created",
    "started",
    "finished",
]


class MigrationSerializer(TenantSafeMixin, serializers.ModelSerializer):
    """What the API lists and the websocket publishes; the samples only on retrieve."""

    redacted_fields = ("reason", "error")

    instance_name = serializers.CharField(source="instance.name", read_only=True)
    project = serializers.IntegerField(source="instance.project_id", read_only=True)
    source_name = serializers.CharField(source="source.name", read_only=True)
    target_name = serializers.CharField(source="target.name", read_only=True, default=None, allow_null=True)
    requester = serializers.CharField(source="requester.username", read_only=True, default=None, allow_null=True)
    state_label = serializers.CharField(source="get_state_display", read_only=True)

    class Meta:
        model = Migration
        fields = MIGRATION_FIELDS
        read_only_fields = MIGRATION_FIELDS


class MigrationDetailSerializer(MigrationSerializer):
    class Meta(MigrationSerializer.Meta):
        fields = [*MIGRATION_FIELDS, "samples"]
        read_only_fields = fields


class MigrationCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    instance = serializers.PrimaryKeyRelatedField(queryset=Instance.objects.none())
    target_host = serializers.PrimaryKeyRelatedField(
        queryset=Host.objects.all(), required=False, allow_null=True, help_text="Empty: the scheduler chooses"
    )
    live = serializers.BooleanField(default=True)
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    bandwidth_mib_s = serializers.IntegerField(required=False, min_value=1, max_value=service.MAX_BANDWIDTH_MIB_S)
    max_downtime_ms = serializers.IntegerField(
        required=False, min_value=1, max_value=service.MAX_DOWNTIME_MS, help_text="Default 300 ms (QEMU's)"
    )
    auto_converge = serializers.BooleanField(required=False)
    postcopy = serializers.BooleanField(required=False, help_text="Allow the switch to post-copy")
    compressed = serializers.BooleanField(required=False)
    parallel_connections = serializers.IntegerField(
        required=False, min_value=1, max_value=service.MAX_PARALLEL_CONNECTIONS
    )
    copy_storage = serializers.BooleanField(required=False, help_text="Copy non-shared disks along")
    target_pool = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=service.STR_OPTIONS["target_pool"],
        help_text="With copy_storage: the target's pool for the root disk (default: a pool of the same name)",
    )

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:
            fields["instance"].queryset = Instance.objects.live().visible_to(request.user)
        return fields

    def options(self):
        return {name: self.validated_data[name] for name in service.OPTION_FIELDS if name in self.validated_data}


class EvacuateSerializer(StrictFieldsMixin, serializers.Serializer):
    host = serializers.PrimaryKeyRelatedField(queryset=Host.objects.all())
    batch = serializers.IntegerField(default=DEFAULT_EVACUATION_BATCH, min_value=1, max_value=MAX_EVACUATION_BATCH)


class EvacuationSerializer(serializers.Serializer):
    """evacuate's answer (202): the migrations started, how many wait, the wake Operation."""

    host = serializers.IntegerField(read_only=True)
    started = serializers.ListField(child=serializers.IntegerField(), help_text="Operation ids", read_only=True)
    waiting = serializers.IntegerField(read_only=True)
    waking = serializers.ListField(child=serializers.CharField(), help_text="standby hosts woken first", read_only=True)
    wake = OperationSerializer(allow_null=True, read_only=True)


class MigrationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Migration.objects.select_related("instance", "source", "target", "requester")
    serializer_class = MigrationSerializer
    permission_classes = [ProjectRolePermission]
    filterset_fields = ["state", "instance", "source", "target", "simulated", "evacuating"]
    ordering_fields = ["created", "state", "percent"]

    def get_queryset(self):
        return super().get_queryset().visible_to(self.request.user)

    def get_serializer_class(self):
        classes = {
            "retrieve": MigrationDetailSerializer,
            "create": MigrationCreateSerializer,
            "evacuate": EvacuateSerializer,
        }
        return classes.get(self.action, self.serializer_class)

    @extend_schema(responses=ACCEPTED)
    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        op = service.start_migration(
            data["instance"],
            target_host=data.get("target_host"),
            user=request.user,
            live=data["live"],
            options=serializer.options(),
            reason=data["reason"],
            request=request,
        )
        return accepted(op, request)

    @extend_schema(responses={202: EvacuationSerializer})
    @action(detail=False, methods=["post"])
    def evacuate(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        host = serializer.validated_data["host"]
        evacuation = evacuate_host(host, user=request.user, batch=serializer.validated_data["batch"], request=request)
        body = {
            "host": host.pk,
            "started": [op.pk for op in evacuation.started],
            "waiting": evacuation.waiting,
            "waking": evacuation.waking,
            "wake": None,
        }
        if evacuation.wake is not None:
            evacuation.wake.refresh_from_db()  # its task may have run already
            body["wake"] = OperationSerializer(evacuation.wake, context={"request": request}).data
        return Response(body, status=202)

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        migration = service.cancel_migration(self.get_object(), request.user, request)
        return Response(MigrationSerializer(migration, context={"request": request}).data)

    @action(detail=True, methods=["post"], url_path="switch-to-postcopy")
    def switch_to_postcopy(self, request, pk=None):
        migration = service.switch_to_postcopy(self.get_object(), request.user, request)
        return Response(MigrationSerializer(migration, context={"request": request}).data)
