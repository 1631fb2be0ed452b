from django.contrib import admin

from storage.models import Snapshot, StoragePool, Volume


@admin.register(StoragePool)
class StoragePoolAdmin(admin.ModelAdmin):
    list_display = ["name", "libvirt_name", "type", "state", "capacity_bytes", "overcommit_limit", "simulated"]
    list_filter = ["type", "state", "simulated"]
    filter_horizontal = ["hosts"]


@admin.register(Volume)
class VolumeAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "pool", "size_gb", "format", "state", "instance", "is_template"]
    list_filter = ["state", "format", "is_template", "pool"]
    search_fields = ["name", "uuid", "libvirt_name"]
    readonly_fields = ["uuid", "libvirt_name", "path", "backing_path", "layer_seq", "allocation_bytes", "quota_held"]


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "volume", "instance", "kind", "current", "state"]
    list_filter = ["kind", "state"]
    readonly_fields = ["libvirt_name", "layer_path", "layer_backing", "overlay_path", "quota_held"]
