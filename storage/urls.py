from django.urls import path

from storage import views

app_name = "storage"
urlpatterns = [
    path("", views.index, name="index"),
    path("volumes/<int:pk>/", views.volume_detail, name="volume"),
    path("volumes/<int:pk>/<slug:action>/", views.volume_action, name="volume-action"),
    path("snapshots/<int:pk>/<slug:action>/", views.snapshot_action, name="snapshot-action"),
    path("instances/<int:pk>/snapshots/", views.instance_snapshots, name="instance-snapshots"),
    path("pools/", views.pools, name="pools"),
    path("pools/<int:pk>/<slug:action>/", views.pool_action, name="pool-action"),
]
