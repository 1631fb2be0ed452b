from rest_framework.routers import SimpleRouter

from catalog.api import views

app_name = "catalog-api"
router = SimpleRouter()
router.register("service-templates", views.ServiceTemplateViewSet)
router.register("services", views.ServiceViewSet)
router.register("backups", views.BackupViewSet)
urlpatterns = router.urls
