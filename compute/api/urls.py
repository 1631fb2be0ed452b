from rest_framework.routers import SimpleRouter

from compute.api import views
from compute.api.devices import HostDeviceViewSet
from compute.api.metrics import AlarmRuleViewSet, AlarmViewSet, MetricsViewSet
from compute.api.migration import MigrationViewSet

app_name = "compute-api"
router = SimpleRouter()
router.register("clusters", views.ClusterViewSet)
router.register("hosts", views.HostViewSet)
router.register("flavors", views.FlavorViewSet)
router.register("images", views.ImageViewSet)
router.register("keypairs", views.KeyPairViewSet)
router.register("instances", views.InstanceViewSet)
router.register("host-devices", HostDeviceViewSet)
router.register("migrations", MigrationViewSet)
router.register("metrics", MetricsViewSet, basename="metric")
router.register("alarm-rules", AlarmRuleViewSet)
router.register("alarms", AlarmViewSet)
urlpatterns = router.urls
