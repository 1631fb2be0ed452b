from django.urls import path

from scheduler import views

app_name = "scheduler"
urlpatterns = [path("", views.index, name="index")]
