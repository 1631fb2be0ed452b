from rest_framework.routers import SimpleRouter

from storage.api import views

app_name = "storage-api"
router = SimpleRouter()
router.register("storage-pools", views.StoragePoolViewSet)
router.register("volumes", views.VolumeViewSet)
router.register("snapshots", views.SnapshotViewSet)
urlpatterns = router.urls
