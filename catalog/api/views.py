"""Catalog API: templates (all read, cloud admins write) and services (tenant resources)."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from catalog import services
from catalog.api import serializers as s
from catalog.models import Backup, Service, ServiceTemplate
from portal.api.base import AdminResourceViewSet, accepted
from portal.api.permissions import ProjectRolePermission
from portal.api.serializers import OperationSerializer


class ServiceTemplateViewSet(AdminResourceViewSet):
    queryset = ServiceTemplate.objects.prefetch_related("flavors")
    serializer_class = s.ServiceTemplateSerializer
    filterset_fields = ["enabled", "image"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        queryset = super().get_queryset()
        return queryset if self.request.user.is_staff else queryset.filter(enabled=True)

    def _save(self, serializer, template):
        data = dict(serializer.validated_data)
        flavors = data.pop("flavors", None)
        for name, value in data.items():
            setattr(template, name, value)
        serializer.instance = services.save_template(self.request.user, template, flavors, request=self.request)

    def perform_create(self, serializer):
        self._save(serializer, ServiceTemplate())

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        services.delete_template(self.request.user, instance, request=self.request)


class ServiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Services. Order, delete and actions answer 202 with the Operation they started."""

    queryset = Service.objects.select_related("template", "flavor")
    serializer_class = s.ServiceSerializer
    permission_classes = [ProjectRolePermission]
    filterset_fields = ["project", "template", "state"]
    ordering_fields = ["name", "created", "state"]
    search_fields = ["name"]

    def get_queryset(self):
        return super().get_queryset().visible_to(self.request.user)

    def get_serializer_class(self):
        return s.ServiceOrderSerializer if self.action == "create" else self.serializer_class

    @extend_schema(request=s.ServiceOrderSerializer, responses={202: OperationSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        project = data.pop("project")
        _service, op = services.order(request.user, project, request=request, **data)
        return accepted(op, request)

    @extend_schema(responses={202: OperationSerializer})
    def destroy(self, request, pk=None):
        return accepted(services.delete(request.user, self.get_object(), request=request), request)

    @extend_schema(request=s.ActionSerializer, responses={202: OperationSerializer})
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        """Run one of the template's actions (an allow-listed script in the guest)."""
        service = self.get_object()
        body = s.ActionSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        op = services.run_action(
            request.user, service, body.validated_data["action"], body.validated_data["arguments"], request=request
        )
        return accepted(op, request)

    def _configurable(self):
        service = self.get_object()
        if services.CONFIGURE_ACTION not in service.template.actions:
            raise NotFound(f"Template {service.template.name} has no configuration parameters.")
        return service

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def configuration(self, request, pk=None):
        """The parameters that may be set (their JSON Schema: types, ranges) and their values as
        the guest last reported them."""
        service = self._configurable()
        reported = service.inventory.get("configuration") or {}
        return Response(
            {
                "parameters": service.template.action_arguments_schema(services.CONFIGURE_ACTION),
                "settings": (reported.get("output") or {}).get("settings"),
                "at": reported.get("at"),
            }
        )

    @extend_schema(request=dict, responses={202: OperationSerializer})
    @configuration.mapping.post
    def set_configuration(self, request, pk=None):
        """POST {"work_mem": 8, ...}: set them (the template's config-set action: reloaded, or
        PostgreSQL restarted when a parameter needs it; the Operation says which); a parameter
        off the allow-list or out of range is a 400 per field."""
        service = self._configurable()
        try:
            op = services.configure(request.user, service, request.data, request=request)
        except services.ParameterErrors as exc:
            raise ValidationError(exc.problems) from exc
        return accepted(op, request)

    @extend_schema(request=s.GrowSerializer, responses={202: OperationSerializer})
    @action(detail=True, methods=["post"])
    def grow(self, request, pk=None):
        """Grow the data volume live (storage's resize, then the filesystem in the guest)."""
        service = self.get_object()
        body = s.GrowSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        op = services.grow_data_volume(request.user, service, body.validated_data["data_volume_gb"], request=request)
        return accepted(op, request)

    @extend_schema(request=s.ServiceResizeSerializer, responses={202: OperationSerializer})
    @action(detail=True, methods=["post"])
    def resize(self, request, pk=None):
        """Change the flavor (one of the template's) through compute's resize: live where compute
        can, else the VM stopped, resized and started; the service is "resizing" meanwhile."""
        service = self.get_object()
        body = s.ServiceResizeSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        return accepted(services.resize(request.user, service, body.validated_data["flavor"], request=request), request)

    @extend_schema(request=None, responses={202: OperationSerializer})
    @action(detail=True, methods=["post"])
    def backup(self, request, pk=None):
        """Take a backup now (a volume of its own attached, the dump written, detached)."""
        _backup, op = services.back_up(request.user, self.get_object(), request=request)
        return accepted(op, request)

    @extend_schema(request=s.ReplicaSerializer, responses={202: OperationSerializer})
    @action(detail=True, methods=["post"])
    def replicas(self, request, pk=None):
        """Add a streaming replica: a new service of the same template on another host, copied
        from this one (pg_basebackup -R over the tenant network) and following it; its lag is in
        the services' ``replication`` field."""
        primary = self.get_object()
        body = s.ReplicaSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        _replica, op = services.add_replica(request.user, primary, request=request, **body.validated_data)
        return accepted(op, request)

    @extend_schema(request=None, responses={202: OperationSerializer})
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        """Promote a replica: it stops following its primary and accepts writes."""
        return accepted(services.promote(request.user, self.get_object(), request=request), request)

    @extend_schema(request=s.BackupScheduleSerializer, responses={200: s.ServiceSerializer})
    @action(detail=True, methods=["post"], url_path="backup-schedule")
    def backup_schedule(self, request, pk=None):
        """Scheduled backups: one every ``every_hours`` (null: none), the newest ``keep`` kept."""
        body = s.BackupScheduleSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        service = services.set_backup_schedule(
            request.user, self.get_object(), body.validated_data["every_hours"], body.validated_data["keep"], request
        )
        return Response(s.ServiceSerializer(service, context={"request": request}).data)


class BackupViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Backups of services (they outlive their service). Taken with POST services/{id}/backup/,
    restored by ordering a new service with ``backup``; delete answers 202 with the volume's delete."""

    queryset = Backup.objects.select_related("template", "volume")
    serializer_class = s.BackupSerializer
    permission_classes = [ProjectRolePermission]
    filterset_fields = ["project", "service", "template", "state", "scheduled"]
    ordering_fields = ["name", "created", "state", "size_bytes"]
    search_fields = ["name", "service_name"]

    def get_queryset(self):
        return super().get_queryset().visible_to(self.request.user)

    @extend_schema(responses={202: OperationSerializer})
    def destroy(self, request, pk=None):
        return accepted(services.delete_backup(request.user, self.get_object(), request=request), request)
