"""Catalog API: templates (all read, cloud admins write) and services (tenant resources)."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action

from catalog import services
from catalog.api import serializers as s
from catalog.models import Service, ServiceTemplate
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
