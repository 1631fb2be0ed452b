from rest_framework.routers import SimpleRouter

app_name = "storage-api"
router = SimpleRouter()
urlpatterns = router.urls
