from django.urls import path

from storage.views import volumes

app_name = "storage"
urlpatterns = [
    path("", volumes.index, name="index"),
    path("volumes/bulk/", volumes.volume_bulk, name="volume-bulk"),
    path("volumes/<int:pk>/", volumes.volume_detail, name="volume"),
    path("volumes/<int:pk>/<slug:action>/", volumes.volume_action, name="volume-action"),
    path("snapshots/", volumes.snapshots, name="snapshots"),
    path("snapshots/<int:pk>/<slug:action>/", volumes.snapshot_action, name="snapshot-action"),
    path("instances/<int:pk>/snapshots/", volumes.instance_snapshots, name="instance-snapshots"),
    path("pools/", volumes.pools, name="pools"),
    path("pools/<int:pk>/<slug:action>/", volumes.pool_action, name="pool-action"),
]
