"""Viewsets: declarations; writes go through network.services, which queue Operations."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.decorators import action
from rest_framework.response import Response

from network import services
from network.api import serializers as s
from network.models import (
    FloatingIP,
    LoadBalancer,
    Network,
    OvnDeployment,
    Port,
    Router,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)
from network.services.common import save_changes
from portal.api.base import ProjectScopedViewSet, accepted
from portal.api.permissions import StaffOnly
from portal.api.serializers import ACCEPTED, OperationSerializer


class ServiceViewSet(ProjectScopedViewSet):
    """Create, update and delete call service verbs; creates answer 201 with the object and
    the id of the Operation realising it, deletes 202 with the Operation."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        obj, op = self.service_create(dict(serializer.validated_data))
        body = self.get_serializer(obj).data
        body["operation"] = op.pk if op else None
        return Response(body, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        obj = self.get_object()
        serializer = self.get_serializer(obj, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        obj, op = self.service_update(obj, dict(serializer.validated_data))
        body = self.get_serializer(obj).data
        body["operation"] = op.pk
        return Response(body)

    @extend_schema(responses=ACCEPTED)
    def destroy(self, request, *args, **kwargs):
        return accepted(self.service_delete(self.get_object()), request)

    def service_update(self, obj, data):
        raise NotImplementedError


class NetworkViewSet(ServiceViewSet):
    queryset = Network.objects.select_related("project").prefetch_related("subnets")
    serializer_class = s.NetworkSerializer
    filterset_fields = ["project", "state", "shared", "external", "segment_type"]
    search_fields = ["name"]

    def service_create(self, data):
        return services.create_network(self.request.user, data.pop("project"), **data)

    def service_update(self, network, data):
        return services.update_network(self.request.user, network, **data)

    def service_delete(self, network):
        return services.delete_network(self.request.user, network)


class SubnetViewSet(ServiceViewSet):
    queryset = Subnet.objects.select_related("network")
    serializer_class = s.SubnetSerializer
    filterset_fields = ["network", "project", "ip_version", "state"]

    def service_create(self, data):
        return services.create_subnet(self.request.user, data.pop("network"), **data)

    def service_update(self, subnet, data):
        return services.update_subnet(self.request.user, subnet, **data)

    def service_delete(self, subnet):
        return services.delete_subnet(self.request.user, subnet)


class PortViewSet(ServiceViewSet):
    queryset = Port.objects.select_related("network").prefetch_related("ip_allocations", "security_groups")
    serializer_class = s.PortSerializer
    filterset_fields = ["network", "project", "device_owner", "instance", "status", "state"]

    def service_create(self, data):
        groups = data.pop("security_groups", None)
        fixed = [dict(f) for f in data.pop("fixed_ips")] if "fixed_ips" in data else None
        return services.create_port(
            self.request.user, data.pop("project"), data.pop("network"), fixed_ips=fixed, security_groups=groups, **data
        )

    def service_update(self, port, data):
        return services.update_port(self.request.user, port, **data)

    def service_delete(self, port):
        return services.delete_port(self.request.user, port)


class SecurityGroupViewSet(ServiceViewSet):
    queryset = SecurityGroup.objects.prefetch_related("rules__remote_group")
    serializer_class = s.SecurityGroupSerializer
    filterset_fields = ["project", "is_default"]

    def service_create(self, data):
        return services.create_security_group(self.request.user, data.pop("project"), **data)

    def service_update(self, group, data):
        return services.update_security_group(self.request.user, group, **data)

    def service_delete(self, group):
        return services.delete_security_group(self.request.user, group)


class SecurityGroupRuleViewSet(ServiceViewSet):
    queryset = SecurityGroupRule.objects.select_related("group", "remote_group")
    serializer_class = s.RuleSerializer
    filterset_fields = ["group", "project", "direction"]
    http_method_names = ["get", "post", "delete", "head", "options"]

    def service_create(self, data):
        group = data.pop("group")
        if group.project.role_of(self.request.user) not in ("admin", "member"):
            self.permission_denied(self.request, "Readers cannot change security groups.")
        return services.create_rule(self.request.user, group, **data)

    def service_delete(self, rule):
        return services.delete_rule(self.request.user, rule)


class RouterViewSet(ServiceViewSet):
    queryset = Router.objects.select_related("gateway_port").prefetch_related("interfaces__subnet")
    serializer_class = s.RouterSerializer
    filterset_fields = ["project", "state"]

    def service_create(self, data):
        return services.create_router(self.request.user, data.pop("project"), **data)

    def service_update(self, router, data):
        return services.update_router(self.request.user, router, **data)

    def service_delete(self, router):
        return services.delete_router(self.request.user, router)

    def _subnet(self, request):
        choice = s.SubnetChoiceSerializer(data=request.data, context=self.get_serializer_context())
        choice.is_valid(raise_exception=True)
        return choice.validated_data["subnet"]

    @extend_schema(request=s.SubnetChoiceSerializer, responses={202: OperationSerializer})
    @action(detail=True, methods=["post"], url_path="add-interface")
    def add_interface(self, request, pk=None):
        router = self.get_object()
        return accepted(services.add_interface(request.user, router, self._subnet(request)), request)

    @extend_schema(request=s.SubnetChoiceSerializer, responses={202: OperationSerializer})
    @action(detail=True, methods=["post"], url_path="remove-interface")
    def remove_interface(self, request, pk=None):
        router = self.get_object()
        return accepted(services.remove_interface(request.user, router, self._subnet(request)), request)


class FloatingIPViewSet(ServiceViewSet):
    queryset = FloatingIP.objects.select_related("allocation", "network")
    serializer_class = s.FloatingIPSerializer
    filterset_fields = ["project", "network", "port", "state"]

    def service_create(self, data):
        return services.create_floating_ip(self.request.user, data.pop("project"), data.pop("network"), **data)

    def service_update(self, fip, data):
        return save_changes(self.request.user, fip, "floating_ip.update", data)

    def service_delete(self, fip):
        return services.delete_floating_ip(self.request.user, fip)

    @extend_schema(request=s.PortChoiceSerializer, responses={202: OperationSerializer})
    @action(detail=True, methods=["post"])
    def associate(self, request, pk=None):
        fip = self.get_object()
        choice = s.PortChoiceSerializer(data=request.data, context=self.get_serializer_context())
        choice.is_valid(raise_exception=True)
        return accepted(services.associate(request.user, fip, choice.validated_data["port"]), request)

    @extend_schema(request=None, responses={202: OperationSerializer})
    @action(detail=True, methods=["post"])
    def disassociate(self, request, pk=None):
        return accepted(services.disassociate(request.user, self.get_object()), request)


class LoadBalancerViewSet(ServiceViewSet):
    queryset = LoadBalancer.objects.select_related("vip_allocation", "subnet").prefetch_related("members")
    serializer_class = s.LoadBalancerSerializer
    filterset_fields = ["project", "subnet", "state"]

    def service_create(self, data):
        members = [dict(m) for m in data.pop("members", [])]
        return services.create_load_balancer(
            self.request.user, data.pop("project"), data.pop("subnet"), members=members, **data
        )

    def service_update(self, lb, data):
        members = [dict(m) for m in data.pop("members")] if "members" in data else None
        return services.update_load_balancer(self.request.user, lb, members=members, **data)

    def service_delete(self, lb):
        return services.delete_load_balancer(self.request.user, lb)


class OvnDeploymentView(generics.GenericAPIView):
    """GET / PATCH /api/v1/ovn-deployment/: the OVN endpoints the portal uses (cloud admins)."""

    permission_classes = [StaffOnly]
    serializer_class = s.OvnDeploymentSerializer
    queryset = OvnDeployment.objects.all()

    def get(self, request):
        return Response(self.get_serializer(OvnDeployment.current()).data)

    def patch(self, request):
        serializer = self.get_serializer(OvnDeployment.current(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        deployment = services.update_deployment(request.user, request=request, **serializer.validated_data)
        return Response(self.get_serializer(deployment).data)
