from rest_framework.routers import SimpleRouter

from compute.api import views

app_name = "compute-api"
router = SimpleRouter()
router.register("clusters", views.ClusterViewSet)
router.register("hosts", views.HostViewSet)
router.register("flavors", views.FlavorViewSet)
router.register("images", views.ImageViewSet)
router.register("keypairs", views.KeyPairViewSet)
router.register("instances", views.InstanceViewSet)
urlpatterns = router.urls
