from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from portal import health, routes, views

api_v1 = [
    path("", include("portal.api.urls", namespace="portal-api")),
    path("", include("compute.api.urls", namespace="compute-api")),
    path("", include("storage.api.urls", namespace="storage-api")),
    path("", include("network.api.urls", namespace="network-api")),
    path("", include("scheduler.api.urls", namespace="scheduler-api")),
    path("", include("catalog.api.urls", namespace="catalog-api")),
]

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("project/switch/", views.switch_project, name="switch-project"),
    path("project/recount/", views.recount_usage, name="recount-usage"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
    path("operations/", views.operation_list, name="operations"),
    path("operations/<int:pk>/", views.operation_detail, name="operation-detail"),
    path("operations/<int:pk>/cancel/", views.operation_cancel, name="operation-cancel"),
    path("compute/", include("compute.urls", namespace="compute")),
    path("storage/", include("storage.urls", namespace="storage")),
    path("network/", include("network.urls", namespace="network")),
    path("scheduler/", include("scheduler.urls", namespace="scheduler")),
    path("catalog/", include("catalog.urls", namespace="catalog")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("openstack/", include("openstack_api.urls", namespace="openstack")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", views.api_docs, name="api-docs"),
    # Probes are written both ways (Kubernetes, load balancers): the same answer with or without a slash.
    re_path(r"^healthz/?$", health.healthz, name="healthz"),
    re_path(r"^readyz/?$", health.readyz, name="readyz"),
    # Browsers ask for /favicon.ico on pages that name none (the API's, the admin's).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    *routes.patterns(),  # apps' root URLs: compute's /metrics
]

# Under /api/ these answer JSON, elsewhere Django's pages.
handler400 = "portal.api.errors.bad_request"
handler403 = "portal.api.errors.permission_denied"
handler404 = "portal.api.errors.page_not_found"
handler500 = "portal.api.errors.server_error"
