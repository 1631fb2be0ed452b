"""What every viewset shares, written once: querysets restricted to the caller's projects,
role checks, writes in a transaction, and 202 answers for long actions."""

from django.db import models, transaction
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from portal.api.permissions import ProjectRolePermission, StaffWritePermission
from portal.models import Project
from portal.names import validate_name, validate_optional_name
from portal.redact import redact_tree, sees_hosts


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


class VisibleRelatedField(serializers.PrimaryKeyRelatedField):
    """An object of a queryset with visible_to(user): one the caller may not see answers the
    same "does not exist" as an id that does not exist (no hint that it does)."""

    def get_queryset(self):
        user = getattr(self.context.get("request"), "user", None)
        queryset = super().get_queryset()
        return queryset.visible_to(user) if user is not None and user.is_authenticated else queryset.none()


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


# The largest id the database holds (a signed 64-bit BigAutoField); a larger one was an
# OverflowError (a 500) in the database driver.
MAX_ID = 2**63 - 1


class IdField(serializers.IntegerField):
    """An id given as a plain integer (not a related field): bounded like the column."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class StrictJSONField(serializers.JSONField):
    """A JSON model field; `null` sent in a form (multipart) is refused as it is in JSON
    (DRF checks null before it parses the form's string, so None reached the services)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value is None and not self.allow_null:
            self.fail("null")
        return value


class TenantSafeMixin:
    """Cloud admins see every field. Others never see admin_only_fields (host URIs, file paths),
    and host URIs and paths in redacted_fields (reasons, messages, errors) are replaced."""

    admin_only_fields = ()
    redacted_fields = ("state_reason",)

    def to_representation(self, instance):
        body = super().to_representation(instance)
        request = self.context.get("request")
        if sees_hosts(getattr(request, "user", None)):
            return body
        for name in self.admin_only_fields:
            body.pop(name, None)
        for name in self.redacted_fields:
            if name in body:
                body[name] = redact_tree(body[name])
        return body


class StrictFieldsMixin(TenantSafeMixin):
    """Unknown fields in a write are an error, not silently ignored; a writable `name` follows
    the shared name rule (portal.names), and is required on create unless the serializer
    sets optional_name (ports, subnets: unnamed is normal there)."""

    optional_name = False
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.JSONField: StrictJSONField,
    }

    def get_fields(self):
        fields = super().get_fields()
        name = fields.get("name")
        if isinstance(name, serializers.CharField) and not name.read_only:
            if self.optional_name:
                name.validators.append(validate_optional_name)
            else:
                name.allow_blank = False
                name.required = self.instance is None
                name.validators.append(validate_name)
        return fields

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


def content_length(request):
    """The request's Content-Length, 0 when missing or not a number."""
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def accepted(operation, request):
    """202 with the Operation a long action started."""
    from portal.api.serializers import OperationSerializer  # portal.api.serializers builds on this module

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
