from django.contrib import admin

from scheduler.models import (
    AffinityRule,
    ClusterSchedulerSettings,
    HaEvent,
    HostPower,
    PowerDriverConfig,
    Recommendation,
    ServerGroup,
)


@admin.register(ClusterSchedulerSettings)
class ClusterSchedulerSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "cluster",
        "drs_enabled",
        "drs_automation",
        "drs_threshold",
        "dpm_enabled",
        "ha_enabled",
        "ha_admission",
        "evc_mode",
    ]


@admin.register(Recommendation)
class RecommendationAdmin(admin.ModelAdmin):
    list_display = ["id", "cluster", "kind", "state", "summary", "imbalance_before", "imbalance_after", "created"]
    list_filter = ["kind", "state", "cluster"]
    readonly_fields = [f.name for f in Recommendation._meta.fields] + ["operations"]


@admin.register(AffinityRule)
class AffinityRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "cluster", "kind", "strength", "enabled"]
    list_filter = ["kind", "strength", "cluster"]
    filter_horizontal = ["instances", "hosts"]


@admin.register(ServerGroup)
class ServerGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "policy"]
    filter_horizontal = ["members"]


@admin.register(PowerDriverConfig)
class PowerDriverConfigAdmin(admin.ModelAdmin):
    list_display = ["host", "kind", "address", "port", "username"]
    exclude = ["password_encrypted"]  # set through the API; never displayed


@admin.register(HostPower)
class HostPowerAdmin(admin.ModelAdmin):
    list_display = ["host", "power_state", "ha_state", "last_heartbeat", "missed_heartbeats"]
    readonly_fields = ["last_heartbeat", "missed_heartbeats", "missing_since", "last_error"]


@admin.register(HaEvent)
class HaEventAdmin(admin.ModelAdmin):
    list_display = ["created", "cluster", "host", "instance", "kind", "detail"]
    list_filter = ["kind", "cluster"]

    def has_change_permission(self, request, obj=None):
        return False
