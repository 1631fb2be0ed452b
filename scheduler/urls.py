from django.urls import path

from scheduler.views import clusters

app_name = "scheduler"
urlpatterns = [
    path("", clusters.index, name="index"),
    path("clusters/<int:pk>/", clusters.cluster_detail, name="cluster"),
    path("clusters/<int:pk>/recommendations/", clusters.recommendations_partial, name="recommendations"),
    path("clusters/<int:pk>/run/<str:verb>/", clusters.cluster_run, name="cluster-run"),
    path("recommendations/<int:pk>/<str:decision>/", clusters.decide, name="decide"),
    path("hosts/<int:pk>/<str:verb>/", clusters.host_power, name="host-power"),
    path("instances/<int:pk>/ha/", clusters.instance_ha, name="instance-ha"),
]
