from rest_framework.routers import DefaultRouter

from portal.api import views

app_name = "portal-api"
router = DefaultRouter()
router.register("projects", views.ProjectViewSet)
router.register("memberships", views.MembershipViewSet)
router.register("quotas", views.QuotaViewSet)
router.register("tokens", views.ApiTokenViewSet)
router.register("operations", views.OperationViewSet)
router.register("audit-events", views.AuditEventViewSet)
urlpatterns = router.urls
