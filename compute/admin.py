from django.contrib import admin

from compute.models import Cluster, Flavor, Host, Image, Instance, InstanceEvent, KeyPair, UnmanagedDomain


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    list_display = ["name", "cpu_overcommit", "ram_overcommit", "disk_overcommit"]


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = ["name", "cluster", "state", "simulated", "cpus", "memory_mb", "refreshed"]
    list_filter = ["state", "simulated", "cluster"]
    readonly_fields = ["facts", "simulated", "kvm_usable", "kvm_note", "refreshed"]
    exclude = ["credentials_path"]  # set through the API; never displayed


@admin.register(Flavor)
class FlavorAdmin(admin.ModelAdmin):
    list_display = ["name", "vcpus", "ram_mb", "disk_gb", "cpu_policy", "visibility", "project"]


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["name", "format", "state", "visibility", "project", "pool", "volume"]

    def has_delete_permission(self, request, obj=None):
        return False  # a row delete would leave its volumes on the hosts: the image page deletes it


@admin.register(KeyPair)
class KeyPairAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "fingerprint"]
    readonly_fields = ["fingerprint"]


class EventInline(admin.TabularInline):
    model = InstanceEvent
    extra = 0
    readonly_fields = ["created", "source", "kind", "detail", "operation"]


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "state", "power_state", "host", "flavor", "created"]
    list_filter = ["state", "host"]
    search_fields = ["name", "uuid"]
    readonly_fields = ["uuid", "power_state", "quota_held", "vnc_password_encrypted"]
    list_select_related = ["project", "host", "flavor"]
    inlines = [EventInline]


@admin.register(UnmanagedDomain)
class UnmanagedDomainAdmin(admin.ModelAdmin):
    list_display = ["name", "host", "power_state", "ignored", "last_seen"]
    list_filter = ["ignored", "host"]
