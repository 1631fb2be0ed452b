"""Routers (logical routers) with interfaces on subnets and a gateway on an external
network, and floating IPs (dnat_and_snat on the router)."""

from django.db import models

from network.models.base import Realised
from network.models.networks import Network, Subnet
from network.models.ports import IPAllocation, Port
from portal.models import ProjectOwned


class Router(ProjectOwned, Realised):
    external_network = models.ForeignKey(
        Network, null=True, blank=True, on_delete=models.PROTECT, related_name="gateway_routers"
    )
    gateway_port = models.OneToOneField(
        Port, null=True, blank=True, on_delete=models.SET_NULL, related_name="gateway_of"
    )
    enable_snat = models.BooleanField(default=True)
    routes = models.JSONField(default=list, blank=True, help_text="[{destination, nexthop}]")

    class Meta:
        ordering = ["project__name", "name", "id"]

    @property
    def router_name(self):
        return f"nubes-{self.uuid}"

    @property
    def gateway_lrp_name(self):
        return f"nubes-lrp-gw-{self.uuid}"

    @property
    def gateway_allocation(self):
        if not self.gateway_port_id:
            return None
        return self.gateway_port.ip_allocations.order_by("id").first()


class RouterInterface(models.Model):
    router = models.ForeignKey(Router, on_delete=models.CASCADE, related_name="interfaces")
    subnet = models.ForeignKey(Subnet, on_delete=models.PROTECT, related_name="router_interfaces")
    port = models.OneToOneField(Port, on_delete=models.PROTECT, related_name="router_interface")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["router_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["subnet"], name="one_router_per_subnet"),
        ]

    @property
    def lrp_name(self):
        return f"nubes-lrp-{self.port.uuid}"


class FloatingIP(ProjectOwned, Realised):
    network = models.ForeignKey(Network, on_delete=models.PROTECT, related_name="floating_ips")
    allocation = models.OneToOneField(IPAllocation, on_delete=models.PROTECT, related_name="floating_ip")
    port = models.ForeignKey(Port, null=True, blank=True, on_delete=models.SET_NULL, related_name="floating_ips")
    fixed_ip = models.GenericIPAddressField(null=True, blank=True)
    router = models.ForeignKey(Router, null=True, blank=True, on_delete=models.SET_NULL, related_name="floating_ips")

    class Meta:
        ordering = ["project__name", "id"]

    @property
    def address(self):
        return self.allocation.address

    def __str__(self):
        return self.name or self.allocation.address
