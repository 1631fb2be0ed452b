"""Ports (logical switch ports) and the addresses they hold."""

from django.core.exceptions import ValidationError
from django.db import models

from network.choices import DeviceOwner, PortStatus
from network.macs import mac_refusal
from network.models.base import Realised
from network.models.networks import Network, Subnet
from portal.models import ProjectOwned


class Port(ProjectOwned, Realised):
    network = models.ForeignKey(Network, on_delete=models.PROTECT, related_name="ports")
    mac_address = models.CharField(max_length=17, unique=True)
    port_security = models.BooleanField(default=True, help_text="Drop traffic from other MAC/IP addresses")
    admin_state_up = models.BooleanField(default=True)
    device_owner = models.CharField(max_length=20, choices=DeviceOwner.choices, default=DeviceOwner.FREE, blank=True)
    device_id = models.CharField(max_length=64, blank=True)
    instance = models.ForeignKey(
        "compute.Instance", null=True, blank=True, on_delete=models.SET_NULL, related_name="ports"
    )
    security_groups = models.ManyToManyField("network.SecurityGroup", blank=True, related_name="ports")
    status = models.CharField(max_length=8, choices=PortStatus.choices, default=PortStatus.UNKNOWN)

    class Meta:
        ordering = ["network_id", "id"]

    @property
    def interface_id(self):
        """The OVN logical port name, and libvirt's <virtualport> interfaceid."""
        return str(self.uuid)

    def clean(self):
        super().clean()
        refusal = mac_refusal(self.mac_address)
        if refusal:
            raise ValidationError({"mac_address": refusal})

    def fixed_ips(self):
        return [{"subnet": a.subnet_id, "ip_address": a.address} for a in self.ip_allocations.all()]


class IPAllocation(models.Model):
    """One address taken in one subnet; by a port, or (port empty) by a floating IP, a router
    gateway or a load balancer VIP that points at it."""

    subnet = models.ForeignKey(Subnet, on_delete=models.CASCADE, related_name="allocations")
    address = models.GenericIPAddressField()
    port = models.ForeignKey(Port, null=True, blank=True, on_delete=models.CASCADE, related_name="ip_allocations")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subnet_id", "id"]
        constraints = [models.UniqueConstraint(fields=["subnet", "address"], name="one_holder_per_address")]

    def __str__(self):
        return self.address
