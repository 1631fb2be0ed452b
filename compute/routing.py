from django.urls import path

from compute.consumers import SerialConsoleConsumer, VncProxyConsumer

websocket_urlpatterns = [
    path("ws/console/<int:instance_id>/", SerialConsoleConsumer.as_asgi()),
    path("ws/vnc/<int:instance_id>/", VncProxyConsumer.as_asgi()),
]
