"""Security groups: stateful allow rules; a port in no group with port security gets nothing in."""

import ipaddress

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from network.choices import L4_PORT_MAX, L4_PORT_MIN, PORT_PROTOCOLS, Direction, EtherType, Protocol
from network.models.base import Realised
from portal.models import ProjectOwned

PORT_VALIDATORS = [MinValueValidator(L4_PORT_MIN), MaxValueValidator(L4_PORT_MAX)]


class SecurityGroup(ProjectOwned, Realised):
    description = models.CharField(max_length=255, blank=True)
    is_default = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["project__name", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project"], condition=Q(is_default=True), name="one_default_group_per_project"
            ),
        ]

    @property
    def port_group_name(self):
        # Port group names go into ACL matches (@name): letters, digits and underscores only.
        return f"nubes_sg_{self.uuid.hex}"


class SecurityGroupRule(ProjectOwned):
    group = models.ForeignKey(SecurityGroup, on_delete=models.CASCADE, related_name="rules")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    ethertype = models.CharField(max_length=4, choices=EtherType.choices, default=EtherType.IPV4)
    protocol = models.CharField(max_length=4, choices=Protocol.choices, default=Protocol.ANY)
    port_range_min = models.PositiveIntegerField(null=True, blank=True, validators=PORT_VALIDATORS)
    port_range_max = models.PositiveIntegerField(null=True, blank=True, validators=PORT_VALIDATORS)
    remote_cidr = models.CharField(max_length=43, blank=True)
    remote_group = models.ForeignKey(
        SecurityGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="referenced_by"
    )
    description = models.CharField(max_length=255, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group_id", "id"]

    def __str__(self):
        ports = f" {self.port_range_min}-{self.port_range_max}" if self.port_range_min else ""
        remote = self.remote_cidr or (f"group {self.remote_group}" if self.remote_group_id else "anywhere")
        return f"{self.direction} {self.ethertype} {self.protocol}{ports} {remote}"

    def clean(self):
        low, high = self.port_range_min, self.port_range_max
        for field, value in (("port_range_min", low), ("port_range_max", high)):
            if value is not None and not L4_PORT_MIN <= value <= L4_PORT_MAX:
                raise ValidationError({field: f"A port is {L4_PORT_MIN}-{L4_PORT_MAX}, not {value}."})
        if (low is not None or high is not None) and self.protocol not in PORT_PROTOCOLS:
            raise ValidationError({"protocol": "Port ranges need protocol tcp or udp."})
        if (low is None) != (high is None):
            raise ValidationError({"port_range_max": "Give both ends of the port range (equal for one port)."})
        if low is not None and low > high:
            raise ValidationError({"port_range_max": f"The range {low}-{high} is reversed."})
        if self.remote_cidr and self.remote_group_id:
            raise ValidationError({"remote_cidr": "Give a remote CIDR or a remote group, not both."})
        if self.remote_cidr:
            try:
                net = ipaddress.ip_network(self.remote_cidr, strict=True)
            except ValueError as exc:
                raise ValidationError(
                    {"remote_cidr": f"{self.remote_cidr!r} is not a network with prefix: {exc}"}
                ) from exc
            if f"IPv{net.version}" != self.ethertype:
                raise ValidationError({"remote_cidr": f"{net} is not an {self.ethertype} network."})
            self.remote_cidr = str(net)
        if self.remote_group_id and self.group_id and self.remote_group.project_id != self.group.project_id:
            raise ValidationError({"remote_group": "The remote group must be in the same project."})
