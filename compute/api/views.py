"""Compute API viewsets: declarations plus one line per action, each calling a service."""

import io

from django.db import transaction
from django.db.models import ProtectedError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

from compute import console
from compute.api import serializers as s
from compute.choices import SHUTDOWN_TIMEOUT_S, Action
from compute.models import Cluster, Flavor, Host, Image, Instance, KeyPair
from compute.services import images, metadata, overcommit
from compute.services import instances as services
from portal.api.base import AdminResourceViewSet, ProjectScopedViewSet, accepted, content_length
from portal.api.parsers import StreamedMultiPartParser, drain_form
from portal.api.permissions import ProjectRolePermission, StaffWritePermission, role_in
from portal.api.serializers import ACCEPTED, OperationSerializer
from portal.choices import WRITE_ROLES, OperationStatus
from portal.errors import ActionError, Conflict
from portal.form_uploads import streamed_upload_action

INSTANCE_RELATED = ("project", "flavor", "image", "host", "key_pair")


class RawUploadParser(BaseParser):
    """Leaves a raw body unread, so the view streams it from request.stream."""

    media_type = "application/octet-stream"

    def parse(self, stream, media_type=None, parser_context=None):
        return {}


class ProtectedDestroyMixin:
    """Deleting what something still uses is a 409 that says what uses it."""

    def perform_destroy(self, instance):
        try:
            instance.delete()
        except ProtectedError as exc:
            users = ", ".join(sorted({str(obj) for obj in exc.protected_objects})[:5])
            raise Conflict(f"{instance} is in use by {users}.") from exc


class ClusterViewSet(ProtectedDestroyMixin, AdminResourceViewSet):
    queryset = Cluster.objects.all()
    serializer_class = s.ClusterSerializer
    search_fields = ["name"]


class HostViewSet(ProtectedDestroyMixin, AdminResourceViewSet):
    queryset = overcommit.with_memory_use(Host.objects.select_related("cluster")).order_by("name")
    serializer_class = s.HostSerializer
    filterset_fields = ["cluster", "state", "simulated"]
    ordering_fields = ["name", "state", "created"]
    search_fields = ["name", "uri"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @extend_schema(responses=ACCEPTED)
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _host, op = services.register_host(request.user, request=request, **serializer.validated_data)
        return accepted(op, request)

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def refresh(self, request, pk=None):
        return accepted(services.refresh_host(request.user, self.get_object(), request), request)

    @action(detail=True, methods=["post"], url_path="set-state", serializer_class=s.HostStateSerializer)
    def set_state(self, request, pk=None):
        host = self.get_object()
        serializer = s.HostStateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        host = services.set_host_state(request.user, host, request=request, **serializer.validated_data)
        return Response(s.HostSerializer(host).data)

    @extend_schema(responses=ACCEPTED)
    @action(detail=True, methods=["post"], serializer_class=s.KsmSerializer)
    def ksm(self, request, pk=None):
        """Start, stop or unmerge KSM on a host whose /sys the portal reads, and/or tune its scanning
        on any real host (libvirt's node memory parameters); 202 with the Operation."""
        serializer = s.KsmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return accepted(
            overcommit.set_ksm(request.user, self.get_object(), request=request, **serializer.validated_data), request
        )


class CatalogViewSet(ProtectedDestroyMixin, AdminResourceViewSet):
    def get_queryset(self):
        return super().get_queryset().visible_to(self.request.user)


class FlavorViewSet(CatalogViewSet):
    queryset = Flavor.objects.all()
    serializer_class = s.FlavorSerializer
    filterset_fields = ["visibility", "project", "cpu_policy"]
    search_fields = ["name"]


class ProjectImageDeletePermission(StaffWritePermission):
    """Cloud admins change images; a project's members also delete the images the project made
    from its instances (Nova's createImage), as Glance lets them."""

    def has_permission(self, request, view):
        if request.method == "DELETE" and request.user.is_authenticated:
            return True  # decided on the object: another project's image is a 404 first
        return super().has_permission(request, view)

    def has_object_permission(self, request, view, obj):
        if request.method != "DELETE" or request.user.is_staff:
            return True
        return obj.instance_uuid is not None and role_in(request.user, obj.project) in WRITE_ROLES


class ImageViewSet(CatalogViewSet):
    queryset = Image.objects.all()
    serializer_class = s.ImageSerializer
    permission_classes = [ProjectImageDeletePermission]
    filterset_fields = ["visibility", "project", "state", "os_type"]
    search_fields = ["name"]

    @extend_schema(responses=ACCEPTED)
    def destroy(self, request, pk=None):
        """202 with the Operation that removes the image's data on every host, then the image;
        409 while an instance, a linked clone or a service template uses it."""
        return accepted(images.delete(request.user, self.get_object(), request=request), request)

    @extend_schema(responses=ACCEPTED)
    @action(detail=True, methods=["post"], parser_classes=[RawUploadParser, StreamedMultiPartParser])
    @streamed_upload_action
    def upload(self, request, pk=None):
        """The request body (application/octet-stream) or a multipart field ``file`` (the form's
        last) becomes the image's data, read as it arrives: 202 with the finished Operation, 400
        with it and the reason under ``body`` / ``file`` when the data was refused."""
        try:
            image = self.get_object()
            if request.content_type.startswith("multipart/"):
                field, stream = "file", request.FILES.get("file")
                if stream is None:
                    raise ActionError("Send the image's data as the form's file field `file`, last.", field="file")
                length = stream.size
            else:  # no body: DRF gives no stream; the Operation records the refusal
                field, stream, length = "body", request.stream or io.BytesIO(), content_length(request) or None
            op = images.upload(request.user, image, stream, length=length, request=request)
        finally:
            drain_form(request)
        response = accepted(op, request)
        if op.status != OperationStatus.SUCCEEDED:
            response.status_code = status.HTTP_400_BAD_REQUEST
            response.data[field] = [op.error]
        return response

    @extend_schema(responses=ACCEPTED)
    @action(detail=True, methods=["post"], url_path="import", serializer_class=s.ImageImportSerializer)
    def import_path(self, request, pk=None):
        serializer = s.ImageImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "url" in data:
            return accepted(images.import_from_url(request.user, self.get_object(), data["url"], request), request)
        return accepted(images.import_from_path(request.user, self.get_object(), data["path"], request), request)


class KeyPairViewSet(ProjectScopedViewSet):
    queryset = KeyPair.objects.select_related("project")
    serializer_class = s.KeyPairSerializer
    filterset_fields = ["project"]
    search_fields = ["name"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]


class InstanceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Instances. Create, delete and every action answer 202 with the Operation they started;
    PATCH renames and replaces the metadata (the fields changed in place)."""

    queryset = Instance.objects.live().select_related(*INSTANCE_RELATED)
    serializer_class = s.InstanceSerializer
    permission_classes = [ProjectRolePermission]
    filterset_fields = ["project", "state", "host", "flavor", "image"]
    ordering_fields = ["name", "created", "state"]
    search_fields = ["name"]

    def get_queryset(self):
        return super().get_queryset().visible_to(self.request.user)

    def get_serializer_class(self):
        return s.InstanceCreateSerializer if self.action == "create" else self.serializer_class

    @extend_schema(request=s.InstanceCreateSerializer, responses={202: OperationSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        hints = {key: data.pop(key).pk for key in ("host", "cluster") if data.get(key) is not None}
        data.pop("host", None), data.pop("cluster", None)
        project = data.pop("project")
        _instance, op = services.create_instance(request.user, project, hints=hints or None, request=request, **data)
        return accepted(op, request)

    @extend_schema(request=s.InstanceUpdateSerializer, responses=s.InstanceSerializer)
    def partial_update(self, request, pk=None):
        instance = self.get_object()
        data = self._valid(s.InstanceUpdateSerializer)
        if "metadata" in data:  # its 400 / 403 before anything changes
            metadata.check_count(metadata.validate(data["metadata"]))
        with transaction.atomic():
            if "name" in data:
                services.rename(request.user, instance, data["name"], request=request)
            if "metadata" in data:
                metadata.set_metadata(request.user, instance, data["metadata"], request=request)
        return Response(s.InstanceSerializer(instance).data)

    @extend_schema(responses=ACCEPTED)
    def destroy(self, request, pk=None):
        return accepted(services.delete(request.user, self.get_object(), request), request)

    def _valid(self, serializer_class):
        serializer = serializer_class(data=self.request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _simple(self, verb):
        return accepted(services.act(self.request.user, self.get_object(), verb, self.request), self.request)

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self._simple(Action.START)

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def suspend(self, request, pk=None):
        return self._simple(Action.SUSPEND)

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._simple(Action.RESUME)

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._simple(Action.PAUSE)

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def unpause(self, request, pk=None):
        return self._simple(Action.UNPAUSE)

    @extend_schema(responses=ACCEPTED)
    @action(detail=True, methods=["post"], serializer_class=s.StopSerializer)
    def stop(self, request, pk=None):
        instance = self.get_object()
        data = self._valid(s.StopSerializer)
        timeout = SHUTDOWN_TIMEOUT_S if data["timeout"] is None else data["timeout"]
        return accepted(
            services.stop(request.user, instance, timeout=timeout, force=data["force"], request=request), request
        )

    @extend_schema(responses=ACCEPTED)
    @action(detail=True, methods=["post"], serializer_class=s.RebootSerializer)
    def reboot(self, request, pk=None):
        instance = self.get_object()
        return accepted(
            services.reboot(request.user, instance, request=request, **self._valid(s.RebootSerializer)), request
        )

    @extend_schema(responses=ACCEPTED)
    @action(detail=True, methods=["post"], serializer_class=s.ResizeSerializer)
    def resize(self, request, pk=None):
        instance = self.get_object()
        return accepted(
            services.resize(request.user, instance, self._valid(s.ResizeSerializer)["flavor"], request), request
        )

    @extend_schema(responses=ACCEPTED)
    @action(detail=True, methods=["post"], serializer_class=s.RebuildSerializer)
    def rebuild(self, request, pk=None):
        instance = self.get_object()
        return accepted(
            services.rebuild(request.user, instance, self._valid(s.RebuildSerializer)["image"], request), request
        )

    @extend_schema(responses=ACCEPTED)
    @action(detail=True, methods=["post"], url_path="create-image", serializer_class=s.CreateImageSerializer)
    def create_image(self, request, pk=None):
        """A private image of the project from the instance's root disk (Nova's createImage): 202
        with the instance's Operation, whose ``detail.image`` is the new image's id."""
        data = self._valid(s.CreateImageSerializer)
        _image, op = images.create_from_instance(
            request.user, self.get_object(), data["name"], data["metadata"], request=request
        )
        return accepted(op, request)

    @extend_schema(responses=ACCEPTED)
    @action(detail=True, methods=["post"], url_path="set-balloon", serializer_class=s.BalloonSerializer)
    def set_balloon(self, request, pk=None):
        instance = self.get_object()
        memory_mb = self._valid(s.BalloonSerializer)["memory_mb"]
        return accepted(services.set_balloon(request.user, instance, memory_mb, request), request)

    @extend_schema(responses=ACCEPTED)
    @action(detail=True, methods=["post"], url_path="set-cpu-qos", serializer_class=s.CpuQosSerializer)
    def set_cpu_qos(self, request, pk=None):
        instance = self.get_object()
        return accepted(
            services.set_cpu_qos(request.user, instance, request=request, **self._valid(s.CpuQosSerializer)), request
        )

    @action(detail=True, methods=["post"], url_path="set-ha", serializer_class=s.HaPrioritySerializer)
    def set_ha(self, request, pk=None):
        instance = services.set_ha_priority(
            request.user, self.get_object(), self._valid(s.HaPrioritySerializer)["ha_priority"], request
        )
        return Response(s.InstanceSerializer(instance).data, status=status.HTTP_200_OK)

    @action(detail=True, methods=["post"], url_path="console-token")
    def console_token(self, request, pk=None):
        """A one-minute ticket for the graphical console's websocket (/ws/vnc/<id>/?token=...)."""
        return Response(console.issue(request.user, self.get_object()))

    @action(detail=True, methods=["post"])
    def lock(self, request, pk=None):
        instance = services.set_lock(request.user, self.get_object(), True, request)
        return Response(s.InstanceSerializer(instance).data, status=status.HTTP_200_OK)

    @action(detail=True, methods=["post"])
    def unlock(self, request, pk=None):
        instance = services.set_lock(request.user, self.get_object(), False, request)
        return Response(s.InstanceSerializer(instance).data, status=status.HTTP_200_OK)
