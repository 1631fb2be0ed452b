"""Plain values the OVN gateway takes: what one Northbound row (and its children) should be.

Every row Nubes makes carries MARKER in external_ids; the sync only ever touches rows with it."""

from __future__ import annotations

from dataclasses import dataclass, field

OWNER_KEY = "nubes:owner"
OWNER = "nubes"
KIND_KEY = "nubes:kind"
ID_KEY = "nubes:id"
PROJECT_KEY = "nubes:project"


def marker(kind: str, object_id: object, project_id: object = "") -> dict[str, str]:
    """The external_ids that say 'Nubes made this row for object <kind> <id>'."""
    return {OWNER_KEY: OWNER, KIND_KEY: kind, ID_KEY: str(object_id), PROJECT_KEY: str(project_id or "")}


def is_ours(external_ids: dict) -> bool:
    return external_ids.get(OWNER_KEY) == OWNER


@dataclass(frozen=True)
class Endpoint:
    """Where the Northbound database answers, and how long to wait for it."""

    address: str
    timeout: float = 10.0


@dataclass(frozen=True)
class SwitchSpec:
    name: str
    external_ids: dict = field(default_factory=dict)
    other_config: dict = field(default_factory=dict)  # mtu, requested-tnl-key, ...


@dataclass(frozen=True)
class DhcpSpec:
    key: str  # stored as nubes:id: the row's identity (DHCP_Options has no name)
    cidr: str
    options: dict = field(default_factory=dict)
    external_ids: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PortSpec:
    name: str
    addresses: tuple[str, ...] = ()
    port_security: tuple[str, ...] = ()
    type: str = ""
    options: dict = field(default_factory=dict)
    tag: int | None = None  # localnet VLAN
    enabled: bool = True
    dhcpv4_key: str | None = None  # DhcpSpec.key, committed before (see REALITY.md)
    dhcpv6_key: str | None = None
    external_ids: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AclSpec:
    direction: str  # from-lport | to-lport
    priority: int
    match: str
    action: str  # allow-related | allow | drop | reject
    external_ids: dict = field(default_factory=dict)

    @property
    def identity(self) -> tuple:
        return self.direction, self.priority, self.match, self.action


@dataclass(frozen=True)
class PortGroupSpec:
    name: str
    acls: tuple[AclSpec, ...] = ()
    ports: tuple[str, ...] | None = None  # LSP names; None leaves membership alone
    external_ids: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RouterPortSpec:
    name: str
    mac: str
    networks: tuple[str, ...]  # "10.0.0.1/24"
    gateway_chassis: tuple[str, ...] = ()  # chassis names, highest priority first
    external_ids: dict = field(default_factory=dict)
    ipv6_ra_configs: dict = field(default_factory=dict)  # router advertisements (address_mode, mtu, ...)


@dataclass(frozen=True)
class RouteSpec:
    prefix: str
    nexthop: str


@dataclass(frozen=True)
class NatSpec:
    type: str  # snat | dnat_and_snat
    external_ip: str
    logical_ip: str
    logical_port: str | None = None
    external_mac: str | None = None
    external_ids: dict = field(default_factory=dict)

    @property
    def identity(self) -> tuple:
        return self.type, self.external_ip, self.logical_ip


@dataclass(frozen=True)
class RouterSpec:
    name: str
    ports: tuple[RouterPortSpec, ...] = ()
    routes: tuple[RouteSpec, ...] = ()
    nats: tuple[NatSpec, ...] = ()
    external_ids: dict = field(default_factory=dict)


@dataclass(frozen=True)
class HealthCheckSpec:
    vip: str  # "10.0.0.10:80"
    options: dict = field(default_factory=dict)  # interval, timeout, success_count, failure_count


@dataclass(frozen=True)
class LoadBalancerSpec:
    name: str
    vips: dict  # {"10.0.0.10:80": "10.0.0.5:8080,10.0.0.6:8080"}
    protocol: str = "tcp"
    health_checks: tuple[HealthCheckSpec, ...] = ()
    ip_port_mappings: dict = field(default_factory=dict)  # member ip -> "lsp:source ip"
    switches: tuple[str, ...] = ()
    routers: tuple[str, ...] = ()
    external_ids: dict = field(default_factory=dict)


@dataclass(frozen=True)
class OwnedRow:
    """A row found in the Northbound database with our marker."""

    table: str
    uuid: str
    name: str
    kind: str
    object_id: str
    project_id: str
