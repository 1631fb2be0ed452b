from django.urls import path

from catalog import views

app_name = "catalog"
urlpatterns = [
    path("", views.index, name="index"),
    path("templates/<int:pk>/order/", views.order, name="order"),
    path("services/", views.services_list, name="services"),
    path("services/<int:pk>/", views.service_detail, name="service"),
    path("services/<int:pk>/run/<slug:action>/", views.service_run, name="service-run"),
    path("services/<int:pk>/log/", views.service_log, name="service-log"),
    path("services/<int:pk>/delete/", views.service_delete, name="service-delete"),
    path("services/<int:pk>/backup/", views.service_backup, name="service-backup"),
    path("services/<int:pk>/grow/", views.service_grow, name="service-grow"),
    path("services/<int:pk>/resize/", views.service_resize, name="service-resize"),
    path("services/<int:pk>/replicas/", views.service_replica, name="service-replica"),
    path("services/<int:pk>/promote/", views.service_promote, name="service-promote"),
    path("services/<int:pk>/backup-schedule/", views.service_backup_schedule, name="service-backup-schedule"),
    path("backups/<int:pk>/delete/", views.backup_delete, name="backup-delete"),
]
