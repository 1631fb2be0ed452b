from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from portal import audit, operations
from portal.api.base import ReadOnlyProjectScopedViewSet, accepted
from portal.api.permissions import ProjectAdminPermission, ProjectRolePermission
from portal.api.serializers import (
    ACCEPTED,
    ApiTokenSerializer,
    AuditEventSerializer,
    MembershipSerializer,
    OperationSerializer,
    ProjectSerializer,
    QuotaSerializer,
)
from portal.errors import Conflict, NotPermitted
from portal.models import ApiToken, AuditEvent, Membership, Operation, Project, Quota
from portal.services import delete_project, revoke_token, start_purge, start_recount


class ProjectViewSet(viewsets.ModelViewSet):
    queryset = Project.objects.all()
    serializer_class = ProjectSerializer
    permission_classes = [ProjectAdminPermission]
    filterset_fields = ["name"]
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created"]

    def get_queryset(self):
        return Project.objects.visible_to(self.request.user)

    def create(self, request, *args, **kwargs):
        if not request.user.is_staff:
            raise NotPermitted("Only cloud admins create projects.")
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        with transaction.atomic():
            project = serializer.save()
            Quota.ensure_defaults(project)
            audit.record(self.request.user, "project.create", project, request=self.request)

    def perform_destroy(self, project):
        delete_project(project, self.request.user, self.request)

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def purge(self, request, pk=None):
        """Staff: delete everything the project owns, then the project (202 with the Operation)."""
        return accepted(start_purge(self.get_object(), request.user, request), request)

    @extend_schema(request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"], url_path="recount-quota", permission_classes=[ProjectRolePermission])
    def recount_quota(self, request, pk=None):
        project = self.get_object()
        return accepted(start_recount(project, request.user), request)


class MembershipViewSet(viewsets.ModelViewSet):
    queryset = Membership.objects.select_related("user", "project")
    serializer_class = MembershipSerializer
    permission_classes = [ProjectAdminPermission]
    filterset_fields = ["project", "role"]

    def get_queryset(self):
        user = self.request.user
        if user.is_staff:
            return self.queryset
        return self.queryset.filter(project__in=Project.objects.visible_to(user))

    def perform_create(self, serializer):
        membership = serializer.save()
        audit.record(self.request.user, "membership.create", membership, request=self.request, role=membership.role)

    def perform_destroy(self, membership):
        audit.record(self.request.user, "membership.delete", membership, request=self.request)
        membership.delete()


class QuotaViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    queryset = Quota.objects.select_related("project")
    serializer_class = QuotaSerializer
    filterset_fields = ["project", "resource"]

    def get_queryset(self):
        return self.queryset.filter(project__in=Project.objects.visible_to(self.request.user))

    def perform_update(self, serializer):
        if not self.request.user.is_staff:
            raise NotPermitted("Only cloud admins change quotas.")
        quota = serializer.save()
        audit.record(self.request.user, "quota.update", quota, request=self.request, limit=quota.limit)


class ApiTokenViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Personal tokens: everyone sees and manages only their own. DELETE revokes."""

    serializer_class = ApiTokenSerializer
    permission_classes = [IsAuthenticated]
    queryset = ApiToken.objects.all()

    def get_queryset(self):
        return ApiToken.objects.filter(user=self.request.user)

    def perform_create(self, serializer):
        token = serializer.save()
        audit.record(self.request.user, "token.create", token, request=self.request)

    def destroy(self, request, *args, **kwargs):
        revoke_token(self.get_object(), request.user, request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OperationViewSet(ReadOnlyProjectScopedViewSet):
    queryset = Operation.objects.select_related("requester")
    serializer_class = OperationSerializer
    filterset_fields = ["status", "kind", "project", "target_type", "target_id"]
    ordering_fields = ["created", "finished", "status"]
    search_fields = ["kind", "target_name", "message"]

    @action(detail=True, methods=["post"], permission_classes=[ProjectRolePermission])
    def cancel(self, request, pk=None):
        op = self.get_object()
        if not operations.request_cancel(op):
            raise Conflict("This operation cannot be cancelled now.")
        audit.record(request.user, "operation.cancel", op, request=request)
        op.refresh_from_db()
        return Response(OperationSerializer(op, context={"request": request}).data)


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """Staff see everything; a project's admins see their project's events."""

    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    filterset_fields = ["project", "action", "outcome", "target_type", "target_id"]
    ordering_fields = ["created"]

    def get_queryset(self):
        user = self.request.user
        if user.is_staff:
            return self.queryset
        return self.queryset.filter(project__memberships__user=user, project__memberships__role="admin")
