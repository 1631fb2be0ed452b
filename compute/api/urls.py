from rest_framework.routers import SimpleRouter

app_name = "compute-api"
router = SimpleRouter()
urlpatterns = router.urls
