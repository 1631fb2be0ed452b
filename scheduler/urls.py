from django.urls import path

from scheduler import views

app_name = "scheduler"
urlpatterns = [
    path("", views.index, name="index"),
    path("clusters/<int:pk>/", views.cluster_detail, name="cluster"),
    path("clusters/<int:pk>/recommendations/", views.recommendations_partial, name="recommendations"),
    path("clusters/<int:pk>/run/<str:verb>/", views.cluster_run, name="cluster-run"),
    path("recommendations/<int:pk>/<str:decision>/", views.decide, name="decide"),
    path("hosts/<int:pk>/<str:verb>/", views.host_power, name="host-power"),
    path("instances/<int:pk>/ha/", views.instance_ha, name="instance-ha"),
]
