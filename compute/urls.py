from django.urls import path

from compute import views

app_name = "compute"
urlpatterns = [
    path("instances/", views.instances, name="instances"),
    path("hosts/", views.hosts, name="hosts"),
]
