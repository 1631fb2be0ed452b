"""The permission matrix for every network resource (alice member, bob reader, charlie outsider)."""

import pytest

from network import services
from network.models import SecurityGroupRule
from portal.models import Operation
from tests.matrix import PermissionMatrix


def settled(obj):
    """The object as if its creating Operation had finished (tasks do not run here)."""
    Operation.objects.update(status="succeeded")
    return obj


@pytest.fixture(autouse=True)
def ovn_backend(nb):
    """Routers, security groups and load balancers exist only with OVN."""


def make_network(project, name="net"):
    from network.models import Network

    network = Network.objects.create(project=project, name=name, backend="ovn", tunnel_key=Network.objects.count() + 1)
    return network


def make_subnet(project, cidr="10.0.0.0/24"):
    network = make_network(project)
    from network.models import Subnet

    subnet = Subnet(project=project, network=network, cidr=cidr, gateway_ip=cidr.rsplit(".", 1)[0] + ".1")
    subnet.full_clean()
    subnet.save()
    return subnet


def member_of(project):
    return project.memberships.filter(role="member").first().user


class TestNetworks(PermissionMatrix):
    list_url = "/api/v1/networks/"
    change_payload = {"name": "renamed"}

    def make(self, project):
        return make_network(project)


class TestSubnets(PermissionMatrix):
    list_url = "/api/v1/subnets/"
    change_payload = {"name": "renamed"}

    def make(self, project):
        return make_subnet(project)


class TestPorts(PermissionMatrix):
    list_url = "/api/v1/ports/"
    change_payload = {"name": "renamed"}

    def make(self, project):
        return settled(services.create_port(None, project, make_subnet(project).network)[0])


class TestSecurityGroups(PermissionMatrix):
    list_url = "/api/v1/security-groups/"
    change_payload = {"description": "changed"}

    def make(self, project):
        return settled(services.create_security_group(None, project, name="web")[0])


class TestSecurityGroupRules(PermissionMatrix):
    list_url = "/api/v1/security-group-rules/"

    def make(self, project):
        group = services.ensure_default_group(project)
        return SecurityGroupRule.objects.filter(group=group).first()


class TestRouters(PermissionMatrix):
    list_url = "/api/v1/routers/"
    change_payload = {"name": "renamed"}

    def make(self, project):
        return settled(services.create_router(None, project, name="r1")[0])


class TestFloatingIPs(PermissionMatrix):
    list_url = "/api/v1/floating-ips/"
    change_payload = {"name": "renamed"}

    def make(self, project):
        from django.contrib.auth import get_user_model

        staff = get_user_model().objects.create(username="ops", is_staff=True)
        public = services.create_network(staff, project, name="public", external=True)[0]
        services.create_subnet(staff, public, cidr="172.24.4.0/24", gateway_ip="172.24.4.1")
        return settled(services.create_floating_ip(None, project, public)[0])


class TestLoadBalancers(PermissionMatrix):
    list_url = "/api/v1/load-balancers/"
    change_payload = {"name": "renamed"}

    def make(self, project):
        subnet = make_subnet(project)
        return settled(services.create_load_balancer(None, project, subnet, name="lb", protocol="tcp", port=80)[0])


def test_every_tenant_network_resource_has_a_permission_matrix():
    from network.api.urls import router

    tenant_resources = {f"/api/v1/{prefix}/" for prefix, _, _ in router.registry} - {"/api/v1/ovn-deployment/"}
    covered = {cls.list_url for cls in PermissionMatrix.__subclasses__() if cls.__module__ == __name__}
    assert tenant_resources == covered
