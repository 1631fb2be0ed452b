"""What every viewset shares, written once: querysets restricted to the caller's projects,
role checks, writes in a transaction, and 202 answers for long actions."""

from django.db import transaction
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from portal.api.permissions import ProjectRolePermission, StaffWritePermission
from portal.models import Project


def current_project(request):
    """The project a create goes to when the body names none: the X-Nubes-Project header,
    the project chosen in the UI, or the caller's only writable project."""
    header = request.headers.get("X-Nubes-Project")
    if header and header.isdigit():
        return Project.objects.writable_by(request.user).filter(pk=int(header)).first()
    session = getattr(request, "session", None)
    chosen = session.get("project_id") if session is not None else None
    if chosen:
        project = Project.objects.writable_by(request.user).filter(pk=chosen).first()
        if project:
            return project
    writable = list(Project.objects.writable_by(request.user)[:2])
    return writable[0] if len(writable) == 1 else None


class CurrentProjectDefault:
    requires_context = True

    def __call__(self, field):
        project = current_project(field.context["request"])
        if project is None:
            raise serializers.ValidationError("Choose a project you may create resources in.")
        return project


class WritableProjectField(serializers.PrimaryKeyRelatedField):
    """A project the caller may create in; another tenant's id is 'does not exist'."""

    def get_queryset(self):
        return Project.objects.writable_by(self.context["request"].user)


class ProjectOwnedSerializer(serializers.ModelSerializer):
    project = WritableProjectField(default=CurrentProjectDefault())

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, (list, tuple)):
            fields["project"].read_only = True  # resources never move between projects
        return fields


class StrictFieldsMixin:
    """Unknown fields in a write are an error, not silently ignored."""

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data.keys()) - writable)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class ProjectScopedViewSet(viewsets.ModelViewSet):
    """A tenant resource. Subclasses declare queryset, serializer_class, filterset_fields."""

    permission_classes = [ProjectRolePermission]

    def get_queryset(self):
        return super().get_queryset().visible_to(self.request.user)

    def perform_create(self, serializer):
        with transaction.atomic():
            serializer.save()

    def perform_update(self, serializer):
        with transaction.atomic():
            serializer.save()


class ReadOnlyProjectScopedViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [ProjectRolePermission]

    def get_queryset(self):
        return super().get_queryset().visible_to(self.request.user)


class AdminResourceViewSet(viewsets.ModelViewSet):
    """Cloud-wide resources (hosts, clusters, public catalogs): all read, staff write."""

    permission_classes = [StaffWritePermission]


def accepted(operation, request):
    """202 with the Operation a long action started."""
    from portal.api.serializers import OperationSerializer

    body = OperationSerializer(operation, context={"request": request}).data
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class CreateListRetrieveDestroyViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    pass
