from django.urls import path
from rest_framework.routers import SimpleRouter

from network.api import views

app_name = "network-api"
router = SimpleRouter()
router.register("networks", views.NetworkViewSet)
router.register("subnets", views.SubnetViewSet)
router.register("ports", views.PortViewSet)
router.register("security-groups", views.SecurityGroupViewSet)
router.register("security-group-rules", views.SecurityGroupRuleViewSet)
router.register("routers", views.RouterViewSet)
router.register("floating-ips", views.FloatingIPViewSet)
router.register("load-balancers", views.LoadBalancerViewSet)
urlpatterns = [path("ovn-deployment/", views.OvnDeploymentView.as_view(), name="ovn-deployment"), *router.urls]
