"""Networks (logical switches) and their subnets."""

import ipaddress

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from network import ipam
from network.choices import (
    AUTO_ADDRESS_MODES,
    ENCAP_OVERHEAD,
    IP_VERSIONS,
    MAX_DNS_SERVERS,
    MAX_HOST_ROUTES,
    MTU_MAX,
    MTU_MIN,
    OVERLAY_TYPES,
    PHYSICAL_MTU,
    VLAN_MAX,
    VLAN_MIN,
    Backend,
    Ipv6Mode,
    SegmentType,
)
from network.models.base import Realised
from portal.models import ProjectOwned
from portal.models.tenancy import ProjectOwnedQuerySet


class NetworkQuerySet(ProjectOwnedQuerySet):
    def visible_to(self, user):
        """A project's own networks, plus shared and external ones (everyone may use those)."""
        if user.is_staff:
            return self
        return self.filter(Q(project__memberships__user=user) | Q(shared=True) | Q(external=True)).distinct()

    def usable_in(self, project):
        """Networks a project may put ports on."""
        return self.filter(Q(project=project) | Q(shared=True))


class Network(ProjectOwned, Realised):
    description = models.CharField(max_length=255, blank=True)
    shared = models.BooleanField(default=False, help_text="Every project may attach ports (cloud admins only).")
    external = models.BooleanField(default=False, help_text="Router gateways and floating IPs live here.")
    segment_type = models.CharField(max_length=8, choices=SegmentType.choices, default=SegmentType.GENEVE)
    tunnel_key = models.PositiveIntegerField(
        null=True, blank=True, unique=True, help_text="VNI / OVN tunnel key, allocated by the portal"
    )
    physical_network = models.CharField(max_length=63, blank=True, help_text="Bridge mapping name (provider networks)")
    vlan_id = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(VLAN_MIN), MaxValueValidator(VLAN_MAX)]
    )
    mtu = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(MTU_MIN), MaxValueValidator(MTU_MAX)], null=True, blank=True
    )
    backend = models.CharField(max_length=16, choices=Backend.choices, default=Backend.LIBVIRT)

    objects = NetworkQuerySet.as_manager()

    class Meta:
        ordering = ["project__name", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["physical_network", "vlan_id"],
                condition=Q(segment_type="vlan"),
                name="one_network_per_provider_vlan",
            ),
        ]

    @property
    def is_provider(self):
        return self.segment_type not in OVERLAY_TYPES

    @property
    def switch_name(self):
        return f"nubes-{self.uuid}"

    def default_mtu(self):
        return PHYSICAL_MTU - ENCAP_OVERHEAD[self.segment_type]

    def clean(self):
        if self.is_provider:
            if not self.physical_network:
                raise ValidationError({"physical_network": "A provider network needs a physical network name."})
            if self.segment_type == SegmentType.VLAN and self.vlan_id is None:
                raise ValidationError({"vlan_id": f"A VLAN network needs a VLAN id ({VLAN_MIN}-{VLAN_MAX})."})
            if self.segment_type == SegmentType.FLAT and self.vlan_id is not None:
                raise ValidationError({"vlan_id": "A flat network has no VLAN id."})
        elif self.physical_network or self.vlan_id is not None:
            raise ValidationError({"segment_type": "Only provider (vlan / flat) networks take a physical network."})
        if (
            self.mtu is not None
            and self.mtu > PHYSICAL_MTU - ENCAP_OVERHEAD[self.segment_type]
            and not self.is_provider
        ):
            raise ValidationError(
                {
                    "mtu": f"An {self.segment_type} network carries at most "
                    f"{PHYSICAL_MTU - ENCAP_OVERHEAD[self.segment_type]} bytes."
                }
            )


class Subnet(ProjectOwned, Realised):
    network = models.ForeignKey(Network, on_delete=models.CASCADE, related_name="subnets")
    ip_version = models.PositiveSmallIntegerField(choices=IP_VERSIONS, default=4)
    cidr = models.CharField(max_length=43)
    gateway_ip = models.GenericIPAddressField(null=True, blank=True)
    allocation_pools = models.JSONField(default=list, blank=True)
    dns_nameservers = models.JSONField(default=list, blank=True)
    host_routes = models.JSONField(default=list, blank=True)
    enable_dhcp = models.BooleanField(default=True)
    ipv6_ra_mode = models.CharField(
        max_length=16,
        choices=Ipv6Mode.choices,
        null=True,
        blank=True,
        default=None,
        help_text="Router advertisements from the router interface (IPv6 only)",
    )
    ipv6_address_mode = models.CharField(
        max_length=16,
        choices=Ipv6Mode.choices,
        null=True,
        blank=True,
        default=None,
        help_text="How hosts get their address (IPv6 only)",
    )

    class Meta:
        ordering = ["network_id", "cidr"]

    @property
    def ipv6_mode(self):
        """The mode hosts follow: the address mode, else the RA mode (Neutron reads them so)."""
        return self.ipv6_address_mode or self.ipv6_ra_mode

    @property
    def auto_address(self):
        """Hosts make their own address (EUI-64 from their MAC); IPAM must give them that one."""
        return self.ip_version == 6 and self.ipv6_mode in AUTO_ADDRESS_MODES

    @property
    def serves_dhcp(self):
        """OVN answers DHCP here; with SLAAC addressing DHCPv6 has nothing to say (as in Neutron)."""
        return self.enable_dhcp and not (self.ip_version == 6 and self.ipv6_address_mode == Ipv6Mode.SLAAC)

    def network_obj(self):
        return ipaddress.ip_network(self.cidr)

    def pools(self):
        return [(ipaddress.ip_address(a), ipaddress.ip_address(b)) for a, b in self.allocation_pools]

    def clean(self):
        net = ipam.parse_network(self.cidr)
        ipam.check_prefix(net)
        self.cidr = str(net)
        self.ip_version = net.version
        gateway = None
        if self.gateway_ip:
            gateway = ipam.parse_address(self.gateway_ip, "gateway_ip")
            first, last = ipam.usable_hosts(net)
            if gateway.version != net.version or not first <= gateway <= last:
                raise ValidationError({"gateway_ip": f"The gateway {gateway} is not a host address of {net}."})
        if not self.allocation_pools:
            self.allocation_pools = ipam.default_pools(net, gateway)
        ipam.check_pools(net, self.allocation_pools, gateway)
        ipam.check_dns(self.dns_nameservers)
        if len(self.dns_nameservers) > MAX_DNS_SERVERS:
            raise ValidationError({"dns_nameservers": f"At most {MAX_DNS_SERVERS} DNS servers."})
        ipam.check_host_routes(net, self.host_routes)
        ipam.check_ipv6_modes(net, self.ipv6_ra_mode, self.ipv6_address_mode, self.enable_dhcp)
        if len(self.host_routes) > MAX_HOST_ROUTES:
            raise ValidationError({"host_routes": f"At most {MAX_HOST_ROUTES} host routes."})
        if self.network_id:
            for other in Subnet.objects.filter(network_id=self.network_id).exclude(pk=self.pk):
                if other.network_obj().version == net.version and other.network_obj().overlaps(net):
                    raise ValidationError({"cidr": f"{net} overlaps {other.cidr}, already on this network."})
