"""URLs of the migration and monitoring pages (added to compute.urls, namespace compute)."""

from django.urls import path

from compute import views_live

urlpatterns = [
    path("migrations/", views_live.migrations, name="migrations"),
    path("migrations/<int:pk>/", views_live.migration_detail, name="migration-detail"),
    path("migrations/<int:pk>/cancel/", views_live.migration_cancel, name="migration-cancel"),
    path("migrations/<int:pk>/switch-to-postcopy/", views_live.migration_postcopy, name="migration-postcopy"),
    path("instances/<int:pk>/migrate/", views_live.instance_migrate, name="instance-migrate"),
    path("hosts/<int:pk>/evacuate/", views_live.host_evacuate, name="host-evacuate"),
    path("alarms/", views_live.alarms, name="alarms"),
]
