from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from portal import services, teardown
from portal.errors import ActionError
from portal.models import ApiToken, AuditEvent, Membership, Operation, Project, Quota
from portal.operations import TargetBusy


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


class QuotaInline(admin.TabularInline):
    model = Quota
    extra = 0
    readonly_fields = ["in_use"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "created"]
    search_fields = ["name"]
    inlines = [MembershipInline, QuotaInline]
    actions = ["purge"]

    def get_deleted_objects(self, objs, request):
        """A project that owns resources is refused with their counts (the page lists them as
        protected); what lives exactly as long as a project goes with it (portal.teardown)."""
        to_delete, model_count, perms_needed, _protected = super().get_deleted_objects(objs, request)
        protected = [
            f"{project}: {teardown.describe(owned)} (use the Purge action)"
            for project in objs
            if (owned := teardown.owned_counts(project))
        ]
        return to_delete, model_count, perms_needed, protected

    def delete_model(self, request, obj):
        services.delete_project(obj, request.user, request)

    def delete_queryset(self, request, queryset):
        for project in queryset:
            services.delete_project(project, request.user, request)

    @admin.action(description="Purge: delete everything the selected projects own, then the projects")
    def purge(self, request, queryset):
        for project in queryset:
            try:
                op = services.start_purge(project, request.user, request)
            except (ActionError, TargetBusy) as exc:
                self.message_user(request, f"{project}: {exc}", messages.ERROR)
                continue
            link = reverse("operation-detail", args=[op.pk])
            self.message_user(
                request, format_html('{}: purge started (<a href="{}">operation {}</a>).', project, link, op.pk)
            )


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "role"]
    list_filter = ["role", "project"]


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    list_display = ["project", "resource", "in_use", "limit"]
    list_filter = ["resource", "project"]
    readonly_fields = ["in_use"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "key_id", "created", "expires", "last_used", "revoked"]
    readonly_fields = ["key_id", "secret_hash", "created", "last_used"]


@admin.register(Operation)
class OperationAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "target_name", "project", "status", "progress", "created"]
    list_filter = ["status", "kind"]
    search_fields = ["kind", "target_name", "message"]
    readonly_fields = [f.name for f in Operation._meta.fields]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is never edited."""

    list_display = ["created", "actor_name", "action", "target_repr", "project", "outcome", "source_ip"]
    list_filter = ["outcome", "action"]
    search_fields = ["actor_name", "action", "target_repr"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
