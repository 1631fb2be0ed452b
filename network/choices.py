"""Named constants of the network app: states, kinds and the numbers behind them."""

from django.db import models


class SegmentType(models.TextChoices):
    GENEVE = "geneve", "Geneve overlay"
    VXLAN = "vxlan", "VXLAN overlay"
    VLAN = "vlan", "Provider VLAN"
    FLAT = "flat", "Provider flat"


OVERLAY_TYPES = (SegmentType.GENEVE, SegmentType.VXLAN)
PROVIDER_TYPES = (SegmentType.VLAN, SegmentType.FLAT)


class Backend(models.TextChoices):
    OVN = "ovn", "OVN"
    LIBVIRT = "libvirt", "libvirt networks"


class State(models.TextChoices):
    """Whether the backend holds what the database says (the database is the truth)."""

    PENDING = "pending", "Pending"
    ACTIVE = "active", "Active"
    ERROR = "error", "Error"
    DELETING = "deleting", "Deleting"


class PortStatus(models.TextChoices):
    UP = "up", "Up"
    DOWN = "down", "Down"
    UNKNOWN = "unknown", "Unknown"


class DeviceOwner(models.TextChoices):
    FREE = "", "Free-standing"
    INSTANCE = "instance", "Instance"
    ROUTER_INTERFACE = "router_interface", "Router interface"
    ROUTER_GATEWAY = "router_gateway", "Router gateway"


class Direction(models.TextChoices):
    INGRESS = "ingress", "Ingress"
    EGRESS = "egress", "Egress"


class EtherType(models.TextChoices):
    IPV4 = "IPv4", "IPv4"
    IPV6 = "IPv6", "IPv6"


class Protocol(models.TextChoices):
    ANY = "any", "Any"
    TCP = "tcp", "TCP"
    UDP = "udp", "UDP"
    ICMP = "icmp", "ICMP"


PORT_PROTOCOLS = (Protocol.TCP, Protocol.UDP)


class LbProtocol(models.TextChoices):
    TCP = "tcp", "TCP"
    UDP = "udp", "UDP"


class MemberStatus(models.TextChoices):
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"
    NO_MONITOR = "no_monitor", "Not monitored"


class Ipv6Mode(models.TextChoices):
    """Neutron's ipv6_ra_mode / ipv6_address_mode values (null: neither RAs nor a mode)."""

    SLAAC = "slaac", "SLAAC"
    DHCPV6_STATEFUL = "dhcpv6-stateful", "DHCPv6 stateful"
    DHCPV6_STATELESS = "dhcpv6-stateless", "DHCPv6 stateless"


# Modes in which hosts make their own address from the prefix and their MAC (EUI-64).
AUTO_ADDRESS_MODES = (Ipv6Mode.SLAAC, Ipv6Mode.DHCPV6_STATELESS)
EUI64_PREFIX_LEN = 64
# OVN's Logical_Router_Port ipv6_ra_configs:address_mode spells the modes with underscores.
OVN_RA_ADDRESS_MODES = {
    Ipv6Mode.SLAAC: "slaac",
    Ipv6Mode.DHCPV6_STATEFUL: "dhcpv6_stateful",
    Ipv6Mode.DHCPV6_STATELESS: "dhcpv6_stateless",
}
# Periodic router advertisements: radvd's defaults as Neutron's L3 agent uses them (OVN's own
# 600 s would leave a host that missed its solicitation's answer without a route for minutes).
RA_MAX_INTERVAL_S = 100
RA_MIN_INTERVAL_S = 30

IP_VERSIONS = ((4, "IPv4"), (6, "IPv6"))
L4_PORT_MIN, L4_PORT_MAX = 1, 65535
VLAN_MIN, VLAN_MAX = 1, 4094
# OVN datapath tunnel keys: 24 bits with Geneve; with VXLAN OVN has 12 bits for datapaths.
TUNNEL_KEY_MIN = 1
TUNNEL_KEY_MAX = {SegmentType.GENEVE: 2**24 - 1, SegmentType.VXLAN: 4095}
TUNNEL_KEY_ATTEMPTS = 5
PHYSICAL_MTU = 1500
MTU_MIN, MTU_MAX = 1280, 9000  # 1280: the IPv6 minimum
ENCAP_OVERHEAD = {SegmentType.GENEVE: 58, SegmentType.VXLAN: 50, SegmentType.VLAN: 0, SegmentType.FLAT: 0}
MAC_PREFIX = (0x02, 0x6E, 0x75)  # locally administered, "nu"
MAC_ATTEMPTS = 10
DHCP_LEASE_TIME_S = 43200
MAX_POOL_SCAN = 65536  # addresses IPAM looks at before calling a subnet full
ACL_PRIORITY_ALLOW = 1002  # above the drop-all group's 1001, as Neutron's OVN driver does
ACL_PRIORITY_DROP = 1001
NAME_MAX = 63
MAX_DNS_SERVERS = 5
MAX_HOST_ROUTES = 20
