from django.urls import path

from network.views import l3, resources

app_name = "network"
urlpatterns = [
    path("", resources.index, name="index"),
    path("topology/", resources.topology_fragment, name="topology"),
    path("sync/", resources.sync, name="sync"),
    path("ovn/", resources.ovn_deployment, name="ovn-deployment"),
    path("<slug:slug>/<int:pk>/edit/", resources.resource_edit, name="edit"),
    path("<slug:slug>/<int:pk>/delete/", resources.resource_delete, name="delete"),
    path("routers/<int:pk>/", l3.detail, {"page": l3.ROUTER}, name="router"),
    path("routers/<int:pk>/<slug:action>/", l3.act, {"page": l3.ROUTER}, name="router-action"),
    path("floating-ips/<int:pk>/", l3.detail, {"page": l3.FLOATING_IP}, name="floating-ip"),
    path("floating-ips/<int:pk>/<slug:action>/", l3.act, {"page": l3.FLOATING_IP}, name="floating-ip-action"),
    path("<slug:slug>/", resources.resource_list, name="list"),
    path("<slug:slug>/new/", resources.resource_create, name="create"),
    path("<slug:slug>/bulk/", resources.resource_bulk, name="bulk"),
]
