from django.urls import path

from network import views

app_name = "network"
urlpatterns = [
    path("", views.index, name="index"),
    path("topology/", views.topology_fragment, name="topology"),
    path("sync/", views.sync, name="sync"),
    path("ovn/", views.ovn_deployment, name="ovn-deployment"),
    path("<slug:slug>/", views.resource_list, name="list"),
    path("<slug:slug>/new/", views.resource_create, name="create"),
    path("<slug:slug>/<int:pk>/delete/", views.resource_delete, name="delete"),
]
