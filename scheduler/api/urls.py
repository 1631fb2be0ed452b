from django.urls import path
from rest_framework.routers import SimpleRouter

from scheduler.api import views

app_name = "scheduler-api"
router = SimpleRouter()
router.register("scheduler-settings", views.SchedulerSettingsViewSet)
router.register("recommendations", views.RecommendationViewSet)
router.register("affinity-rules", views.AffinityRuleViewSet)
router.register("server-groups", views.ServerGroupViewSet)
router.register("host-power", views.HostPowerViewSet)
router.register("ha-events", views.HaEventViewSet)

# The cluster-scoped verbs, also under the cluster itself (`/api/v1/clusters/<id>/drs-run/`).
_settings = views.SchedulerSettingsViewSet
cluster_actions = [
    path("clusters/<int:cluster>/drs-run/", _settings.as_view({"post": "drs_run"}), name="cluster-drs-run"),
    path("clusters/<int:cluster>/dpm-run/", _settings.as_view({"post": "dpm_run"}), name="cluster-dpm-run"),
    path(
        "clusters/<int:cluster>/evc-baseline/", _settings.as_view({"post": "evc_baseline"}), name="cluster-evc-baseline"
    ),
    path("clusters/<int:cluster>/ha-status/", _settings.as_view({"get": "ha_status"}), name="cluster-ha-status"),
]
urlpatterns = router.urls + cluster_actions
