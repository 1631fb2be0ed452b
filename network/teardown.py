"""network's part in deleting a project (portal.teardown), in the order the backend needs:
floating IPs, router interfaces, routers, load balancers, ports, subnets, networks, then the
security groups. The default group is not counted: it goes with the project (signals.py)."""

from django.db.models import F

from network import services
from network.choices import DeviceOwner
from network.models import (
    FloatingIP,
    LoadBalancer,
    Network,
    Port,
    Router,
    RouterInterface,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)
from portal import teardown

ROUTER_PORTS = (DeviceOwner.ROUTER_INTERFACE, DeviceOwner.ROUTER_GATEWAY)  # they go with their router


def _owned(model):
    return lambda project: model.objects.filter(project=project)


def cross_group_rules(project):
    """Rules naming another of the project's groups: a group named by others is not deleted."""
    return SecurityGroupRule.objects.filter(
        project=project, remote_group__isnull=False, remote_group__is_default=False
    ).exclude(group=F("remote_group"))


def register():
    steps = [
        ("floating IPs", _owned(FloatingIP), services.delete_floating_ip),
        (
            "router interfaces",
            lambda project: RouterInterface.objects.filter(router__project=project),
            lambda user, interface: services.remove_interface(user, interface.router, interface.subnet),
        ),
        ("routers", _owned(Router), services.delete_router),
        ("load balancers", _owned(LoadBalancer), services.delete_load_balancer),
        (
            "ports",
            lambda project: Port.objects.filter(project=project).exclude(device_owner__in=ROUTER_PORTS),
            services.delete_port,
        ),
        ("subnets", _owned(Subnet), services.delete_subnet),
        ("networks", _owned(Network), services.delete_network),
        ("security group rules naming other groups", cross_group_rules, services.delete_rule),
        (
            "security groups",
            lambda project: SecurityGroup.objects.filter(project=project, is_default=False),
            services.delete_security_group,
        ),
    ]
    for order, (name, owned, remove) in enumerate(steps, start=20):
        teardown.register(name, order, owned, remove)
