from django.urls import path

from compute import views, views_admin
from compute.urls_live import urlpatterns as live_urlpatterns

app_name = "compute"
urlpatterns = [
    path("instances/", views.instances, name="instances"),
    path("instances/launch/", views.instance_launch, name="instance-launch"),
    path("instances/<int:pk>/", views.instance_detail, name="instance-detail"),
    *live_urlpatterns,
    path("instances/<int:pk>/<str:action>/", views.instance_action, name="instance-action"),
    path("hosts/", views.hosts, name="hosts"),
    path("hosts/<int:pk>/", views.host_detail, name="host-detail"),
    path("hosts/<int:pk>/ksm/", views.host_ksm, name="host-ksm"),
    path("flavors/", views.flavors, name="flavors"),
    path("images/", views.images, name="images"),
    path("images/new/", views_admin.image_create, name="image-create"),
    path("images/<int:pk>/", views_admin.image_detail, name="image-detail"),
    path("images/<int:pk>/upload/", views_admin.image_upload, name="image-upload"),
    path("images/<int:pk>/import/", views_admin.image_import, name="image-import"),
    path("hosts/<int:pk>/devices/", views_admin.host_devices, name="host-devices"),
    path("devices/<int:pk>/assign/", views_admin.host_device_assign, name="host-device-assign"),
]
