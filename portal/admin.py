from django.contrib import admin

from portal.models import ApiToken, AuditEvent, Membership, Operation, Project, Quota


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
