"""L4 load balancers: a VIP on a subnet spread over members, with OVN health checks."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from network.choices import L4_PORT_MAX, L4_PORT_MIN, LbProtocol, MemberStatus
from network.models.base import Realised
from network.models.networks import Subnet
from network.models.ports import IPAllocation
from portal.models import ProjectOwned

L4_PORT = [MinValueValidator(L4_PORT_MIN), MaxValueValidator(L4_PORT_MAX)]
HC_INTERVAL_S, HC_TIMEOUT_S, HC_SUCCESS, HC_FAILURE = 5, 20, 3, 3
HC_LIMITS = [MinValueValidator(1), MaxValueValidator(3600)]


class LoadBalancer(ProjectOwned, Realised):
    subnet = models.ForeignKey(Subnet, on_delete=models.PROTECT, related_name="load_balancers")
    vip_allocation = models.OneToOneField(IPAllocation, on_delete=models.PROTECT, related_name="load_balancer")
    # OVN probes members from this address and answers ARP for it with its own service-monitor
    # MAC, so it must not be the VIP (clients would then send VIP traffic nowhere).
    monitor_allocation = models.OneToOneField(
        IPAllocation, null=True, blank=True, on_delete=models.PROTECT, related_name="monitoring_load_balancer"
    )
    protocol = models.CharField(max_length=4, choices=LbProtocol.choices, default=LbProtocol.TCP)
    port = models.PositiveIntegerField(validators=L4_PORT)
    health_check = models.BooleanField(default=True)
    hc_interval = models.PositiveIntegerField(default=HC_INTERVAL_S, validators=HC_LIMITS)
    hc_timeout = models.PositiveIntegerField(default=HC_TIMEOUT_S, validators=HC_LIMITS)
    hc_success_count = models.PositiveIntegerField(default=HC_SUCCESS, validators=HC_LIMITS)
    hc_failure_count = models.PositiveIntegerField(default=HC_FAILURE, validators=HC_LIMITS)

    class Meta:
        ordering = ["project__name", "name", "id"]

    @property
    def vip(self):
        return self.vip_allocation.address

    @property
    def monitor_address(self) -> str | None:
        return self.monitor_allocation.address if self.monitor_allocation_id else None

    @property
    def lb_name(self):
        return f"nubes-{self.uuid}"


class LoadBalancerMember(models.Model):
    load_balancer = models.ForeignKey(LoadBalancer, on_delete=models.CASCADE, related_name="members")
    address = models.GenericIPAddressField()
    port = models.PositiveIntegerField(validators=L4_PORT)
    status = models.CharField(max_length=12, choices=MemberStatus.choices, default=MemberStatus.NO_MONITOR)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["load_balancer_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["load_balancer", "address", "port"], name="one_member_per_endpoint")
        ]

    def __str__(self):
        return f"{self.address}:{self.port}"
