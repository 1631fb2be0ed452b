"""Role checks for project-owned objects: readers read, members and admins change.

Visibility is the queryset's job (a hidden object is a 404); this class only turns
'visible but not yours to change' into a 403."""

from django.conf import settings
from rest_framework import permissions

from portal.choices import WRITE_ROLES, Role


def role_in(user, project):
    return project.role_of(user) if project is not None else (Role.ADMIN if user.is_staff else None)


class ProjectRolePermission(permissions.IsAuthenticated):
    write_roles = WRITE_ROLES

    def has_object_permission(self, request, view, obj):
        if request.method in permissions.SAFE_METHODS:
            return True
        project = obj if obj._meta.label_lower == "portal.project" else getattr(obj, "project", None)
        return role_in(request.user, project) in self.write_roles


class ProjectAdminPermission(ProjectRolePermission):
    write_roles = (Role.ADMIN,)


class StaffWritePermission(permissions.IsAuthenticated):
    """Anyone signed in reads; only cloud admins change (hosts, clusters, public catalogs)."""

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        return request.method in permissions.SAFE_METHODS or request.user.is_staff


class StaffOnly(permissions.IsAdminUser):
    pass


class SchemaPermission(permissions.BasePermission):
    """/api/schema/: signed-in callers (session or token), or anyone with NUBES_API_DOCS_PUBLIC."""

    def has_permission(self, request, view):
        return settings.NUBES_API_DOCS_PUBLIC or bool(request.user and request.user.is_authenticated)
