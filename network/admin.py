from django.contrib import admin

from network import models


@admin.register(models.Network)
class NetworkAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "segment_type", "tunnel_key", "backend", "shared", "external", "state")
    list_filter = ("backend", "segment_type", "shared", "external", "state")
    search_fields = ("name", "uuid")


@admin.register(models.Port)
class PortAdmin(admin.ModelAdmin):
    list_display = ("uuid", "project", "network", "mac_address", "device_owner", "status", "state")
    list_filter = ("device_owner", "status", "state")


for model in (
    models.Subnet,
    models.IPAllocation,
    models.SecurityGroup,
    models.SecurityGroupRule,
    models.Router,
    models.RouterInterface,
    models.FloatingIP,
    models.LoadBalancer,
    models.LoadBalancerMember,
):
    admin.site.register(model)
