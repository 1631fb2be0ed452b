from rest_framework.routers import SimpleRouter

app_name = "scheduler-api"
router = SimpleRouter()
urlpatterns = router.urls
