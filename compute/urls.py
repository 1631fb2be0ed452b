from django.urls import path

from compute.views import admin, alarm_rules, keypairs, live, overview, tenant

app_name = "compute"
urlpatterns = [
    path("instances/", tenant.instances, name="instances"),
    path("instances/launch/", tenant.instance_launch, name="instance-launch"),
    path("instances/bulk/", tenant.instances_bulk, name="instances-bulk"),
    path("instances/<int:pk>/", tenant.instance_detail, name="instance-detail"),
    # Migration and monitoring pages; before instance-action, whose <str:action> would take "migrate".
    path("migrations/", live.migrations, name="migrations"),
    path("migrations/<int:pk>/", live.migration_detail, name="migration-detail"),
    path("migrations/<int:pk>/cancel/", live.migration_cancel, name="migration-cancel"),
    path("migrations/<int:pk>/switch-to-postcopy/", live.migration_postcopy, name="migration-postcopy"),
    path("instances/<int:pk>/migrate/", live.instance_migrate, name="instance-migrate"),
    path("hosts/<int:pk>/evacuate/", live.host_evacuate, name="host-evacuate"),
    path("alarms/", live.alarms, name="alarms"),
    path("alarm-rules/", alarm_rules.alarm_rules, name="alarm-rules"),
    path("alarm-rules/new/", alarm_rules.alarm_rule_form, name="alarm-rule-create"),
    path("alarm-rules/<int:pk>/", alarm_rules.alarm_rule_form, name="alarm-rule-edit"),
    path("alarm-rules/<int:pk>/delete/", alarm_rules.alarm_rule_delete, name="alarm-rule-delete"),
    path("instances/<int:pk>/<str:action>/", tenant.instance_action, name="instance-action"),
    path("hosts/", overview.hosts, name="hosts"),
    path("overview/", overview.overview, name="overview"),
    path("hosts/<int:pk>/", tenant.host_detail, name="host-detail"),
    path("hosts/<int:pk>/ksm/", tenant.host_ksm, name="host-ksm"),
    path("flavors/", tenant.flavors, name="flavors"),
    path("keypairs/", keypairs.keypairs, name="keypairs"),
    path("keypairs/new/", keypairs.keypair_create, name="keypair-create"),
    path("keypairs/import/", keypairs.keypair_create, {"imported": True}, name="keypair-import"),
    path("keypairs/<int:pk>/delete/", keypairs.keypair_delete, name="keypair-delete"),
    path("images/", tenant.images, name="images"),
    path("images/new/", admin.image_create, name="image-create"),
    path("images/<int:pk>/", admin.image_detail, name="image-detail"),
    path("images/<int:pk>/upload/", admin.image_upload, name="image-upload"),
    path("images/<int:pk>/import/", admin.image_import, name="image-import"),
    path("images/<int:pk>/delete/", admin.image_delete, name="image-delete"),
    path("hosts/<int:pk>/devices/", admin.host_devices, name="host-devices"),
    path("devices/<int:pk>/assign/", admin.host_device_assign, name="host-device-assign"),
]
