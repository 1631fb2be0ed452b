from django.urls import path

from network import views, views_l3

app_name = "network"
urlpatterns = [
    path("", views.index, name="index"),
    path("topology/", views.topology_fragment, name="topology"),
    path("sync/", views.sync, name="sync"),
    path("ovn/", views.ovn_deployment, name="ovn-deployment"),
    path("<slug:slug>/<int:pk>/edit/", views.resource_edit, name="edit"),
    path("<slug:slug>/<int:pk>/delete/", views.resource_delete, name="delete"),
    path("routers/<int:pk>/", views_l3.detail, {"page": views_l3.ROUTER}, name="router"),
    path("routers/<int:pk>/<slug:action>/", views_l3.act, {"page": views_l3.ROUTER}, name="router-action"),
    path("floating-ips/<int:pk>/", views_l3.detail, {"page": views_l3.FLOATING_IP}, name="floating-ip"),
    path(
        "floating-ips/<int:pk>/<slug:action>/", views_l3.act, {"page": views_l3.FLOATING_IP}, name="floating-ip-action"
    ),
    path("<slug:slug>/", views.resource_list, name="list"),
    path("<slug:slug>/new/", views.resource_create, name="create"),
]
