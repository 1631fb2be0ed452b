"""Storage viewsets: declarations; every change goes through storage.services."""

import io

from django.db import transaction
from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

from portal.api.base import AdminResourceViewSet, ProjectScopedViewSet, accepted, content_length
from portal.api.permissions import ProjectRolePermission
from portal.api.serializers import ACCEPTED, OperationSerializer
from portal.streaming import response_chunks
from storage import services
from storage.api import serializers as s
from storage.models import Snapshot, StoragePool, Volume


class RawBodyParser(BaseParser):
    """Any content type; the view reads request.stream itself (never request.data)."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return {}


def _input(serializer_class, request, **context):
    serializer = serializer_class(data=request.data, context={"request": request, **context})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class StoragePoolViewSet(AdminResourceViewSet):
    queryset = StoragePool.objects.prefetch_related("hosts")
    serializer_class = s.StoragePoolSerializer
    filterset_fields = ["type", "state"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @extend_schema(request=s.StoragePoolSerializer, responses=ACCEPTED)
    def create(self, request, *args, **kwargs):
        data = _input(s.StoragePoolSerializer, request)
        _pool, op = services.define_pool(request.user, request=request, **data)
        return accepted(op, request)

    def perform_update(self, serializer):
        allowed = {"name", "overcommit_limit"}
        extra = sorted(set(serializer.validated_data) - allowed)
        if extra:
            raise exceptions.ValidationError(
                {name: ["Set when the pool is defined; define a new pool instead."] for name in extra}
            )
        with transaction.atomic():
            serializer.save()

    @extend_schema(responses=ACCEPTED)
    def destroy(self, request, *args, **kwargs):
        return accepted(services.delete_pool(request.user, self.get_object(), request=request), request)

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return accepted(services.pool_action(request.user, self.get_object(), "start", request=request), request)

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def refresh(self, request, pk=None):
        return accepted(services.pool_action(request.user, self.get_object(), "refresh", request=request), request)

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        return accepted(services.pool_action(request.user, self.get_object(), "stop", request=request), request)


class VolumeViewSet(ProjectScopedViewSet):
    queryset = Volume.objects.select_related("pool", "instance")
    serializer_class = s.VolumeSerializer
    filterset_fields = ["project", "pool", "state", "instance", "is_template"]
    # PUT only for the raw-body upload action; a volume itself changes by PATCH.
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def update(self, request, *args, **kwargs):
        if not kwargs.get("partial"):
            return Response({"detail": "Change a volume with PATCH."}, status=status.HTTP_405_METHOD_NOT_ALLOWED)
        return super().update(request, *args, **kwargs)

    @extend_schema(responses=ACCEPTED)
    @action(detail=True, methods=["put"], parser_classes=[RawBodyParser])
    def upload(self, request, pk=None):
        """The request body is the volume's new content (a qcow2 file for a qcow2 volume, raw
        bytes otherwise); 202 with the Operation that streams it in with progress."""
        volume = self.get_object()
        stream = request.stream or io.BytesIO()  # no body: DRF gives no stream; the service says what is missing
        length = content_length(request)
        return accepted(services.upload_volume(request.user, volume, stream, length, request=request), request)

    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """The volume's file, streamed; its Operation records the progress."""
        volume = self.get_object()
        op, size, chunks = services.download_volume(request.user, volume, request=request)
        response = StreamingHttpResponse(response_chunks(request, chunks), content_type="application/octet-stream")
        response["Content-Length"] = str(size)
        response["Content-Disposition"] = f'attachment; filename="{volume.libvirt_name}.{volume.format}"'
        response["X-Operation"] = str(op.pk)
        return response

    @extend_schema(request=s.VolumeCreateSerializer, responses={202: OperationSerializer})
    def create(self, request, *args, **kwargs):
        data = _input(s.VolumeCreateSerializer, request)
        _volume, op = services.create_volume(request.user, data.pop("project"), request=request, **data)
        return accepted(op, request)

    def perform_update(self, serializer):
        volume = serializer.instance
        is_template = serializer.validated_data.pop("is_template", None)
        with transaction.atomic():
            if is_template is not None and is_template != volume.is_template:
                services.set_template(self.request.user, volume, is_template, request=self.request)
            serializer.save()

    @extend_schema(responses=ACCEPTED)
    def destroy(self, request, *args, **kwargs):
        volume = self.get_object()
        data = _input(s.DeleteSerializer, request) if request.data else {"wipe": False}
        return accepted(services.delete_volume(request.user, volume, request=request, **data), request)

    @extend_schema(request=s.MapDeviceSerializer, responses={201: s.VolumeSerializer})
    @action(detail=False, methods=["post"], url_path="map-device")
    def map_device(self, request):
        data = _input(s.MapDeviceSerializer, request)
        volume = services.map_device(request.user, data.pop("project"), request=request, **data)
        return Response(s.VolumeSerializer(volume, context={"request": request}).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.AttachSerializer, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def attach(self, request, pk=None):
        volume = self.get_object()
        data = _input(s.AttachSerializer, request)
        return accepted(services.attach_volume(request.user, volume, request=request, **data), request)

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def detach(self, request, pk=None):
        return accepted(services.detach_volume(request.user, self.get_object(), request=request), request)

    @extend_schema(request=s.ResizeSerializer, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def resize(self, request, pk=None):
        volume = self.get_object()
        data = _input(s.ResizeSerializer, request)
        return accepted(services.resize_volume(request.user, volume, data["size_gb"], request=request), request)

    @extend_schema(request=s.SnapshotCreateSerializer, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def snapshot(self, request, pk=None):
        volume = self.get_object()
        data = _input(s.SnapshotCreateSerializer, request)
        data.pop("instance", None)
        data["volume"] = volume
        _snapshot, op = services.create_snapshot(request.user, request=request, **data)
        return accepted(op, request)

    @extend_schema(request=s.CloneSerializer, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def clone(self, request, pk=None):
        volume = self.get_object()
        data = _input(s.CloneSerializer, request)
        _clone, op = services.create_volume(
            request.user,
            volume.project,
            name=data["name"],
            pool=volume.pool,
            source="volume",
            source_volume=volume,
            clone_mode=data["mode"],
            format=volume.format,
            request=request,
        )
        return accepted(op, request)

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def flatten(self, request, pk=None):
        return accepted(services.flatten_volume(request.user, self.get_object(), request=request), request)

    @extend_schema(request=s.MigrateSerializer, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def migrate(self, request, pk=None):
        volume = self.get_object()
        data = _input(s.MigrateSerializer, request)
        return accepted(services.migrate_volume(request.user, volume, data["pool"], request=request), request)

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def reclaim(self, request, pk=None):
        return accepted(services.reclaim_space(request.user, self.get_object(), request=request), request)


class SnapshotViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Snapshot.objects.select_related("volume", "instance").prefetch_related("children", "layers")
    serializer_class = s.SnapshotSerializer
    permission_classes = [ProjectRolePermission]
    filterset_fields = ["project", "volume", "instance", "kind", "current"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return super().get_queryset().visible_to(self.request.user)

    @extend_schema(request=s.SnapshotCreateSerializer, responses=ACCEPTED)
    def create(self, request, *args, **kwargs):
        data = _input(s.SnapshotCreateSerializer, request)
        _snapshot, op = services.create_snapshot(request.user, request=request, **data)
        return accepted(op, request)

    @extend_schema(responses=ACCEPTED)
    def destroy(self, request, *args, **kwargs):
        return accepted(services.delete_snapshot(request.user, self.get_object(), request=request), request)

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def revert(self, request, pk=None):
        return accepted(services.revert_snapshot(request.user, self.get_object(), request=request), request)
