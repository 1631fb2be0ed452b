from django.urls import path

from compute.consumers import SerialConsoleConsumer

websocket_urlpatterns = [path("ws/console/<int:instance_id>/", SerialConsoleConsumer.as_asgi())]
