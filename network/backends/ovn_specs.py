"""The intended Northbound rows for each object, compiled from the database (the truth)."""

import ipaddress

from network import conf as net_settings
from network.choices import (
    ACL_PRIORITY_ALLOW,
    ACL_PRIORITY_DROP,
    DHCP_LEASE_TIME_S,
    OVN_RA_ADDRESS_MODES,
    RA_MAX_INTERVAL_S,
    RA_MIN_INTERVAL_S,
    DeviceOwner,
    Direction,
    Ipv6Mode,
    Protocol,
    SegmentType,
    State,
)
from network.models import IPAllocation, LoadBalancer, Port, RouterInterface, SecurityGroup
from network.ovn.specs import (
    AclSpec,
    DhcpSpec,
    HealthCheckSpec,
    LoadBalancerSpec,
    NatSpec,
    PortGroupSpec,
    PortSpec,
    RouterPortSpec,
    RouterSpec,
    RouteSpec,
    SwitchSpec,
    marker,
)

DROP_GROUP = "nubes_drop"
ROUTER_OWNERS = (DeviceOwner.ROUTER_INTERFACE, DeviceOwner.ROUTER_GATEWAY)
DEFAULT_ROUTES = {4: "0.0.0.0/0", 6: "::/0"}


def _ids(kind, obj, **extra):
    return {**marker(kind, obj.uuid, obj.project_id), **{f"nubes:{k}": str(v) for k, v in extra.items()}}


def switch_spec(network):
    other = {"mtu": str(network.mtu or network.default_mtu())}
    if network.tunnel_key:
        other["requested-tnl-key"] = str(network.tunnel_key)
    return SwitchSpec(network.switch_name, _ids("network", network, name=network.name), other)


def localnet_spec(network):
    """Provider networks reach the physical network through a localnet port."""
    return PortSpec(
        f"nubes-ln-{network.uuid}",
        ("unknown",),
        type="localnet",
        options={"network_name": network.physical_network},
        tag=network.vlan_id if network.segment_type == SegmentType.VLAN else None,
        external_ids=marker("localnet", network.uuid, network.project_id),
    )


def _mac_for_dhcp(subnet):
    # OVN answers DHCP from this MAC; derive a stable one from the subnet's UUID.
    raw = subnet.uuid.bytes[:5]
    return "02:" + ":".join(f"{b:02x}" for b in raw)


def dhcp_spec(subnet):
    net = ipaddress.ip_network(subnet.cidr)
    mtu = subnet.network.mtu or subnet.network.default_mtu()
    if net.version == 4:
        server = subnet.gateway_ip or str(next(iter(net.hosts())))  # a list for /31 and /32
        options = {
            "server_id": server,
            "server_mac": _mac_for_dhcp(subnet),
            "lease_time": str(DHCP_LEASE_TIME_S),
            "mtu": str(mtu),
        }
        if subnet.gateway_ip:
            options["router"] = subnet.gateway_ip
        if subnet.dns_nameservers:
            options["dns_server"] = "{" + ", ".join(subnet.dns_nameservers) + "}"
        if subnet.host_routes:
            routes = [f"{r['destination']},{r['nexthop']}" for r in subnet.host_routes]
            if subnet.gateway_ip:  # with classless routes, clients ignore the router option
                routes.append(f"0.0.0.0/0,{subnet.gateway_ip}")
            options["classless_static_route"] = "{" + ", ".join(routes) + "}"
    else:
        options = {"server_id": _mac_for_dhcp(subnet)}
        if subnet.ipv6_address_mode == Ipv6Mode.DHCPV6_STATELESS:  # addresses by SLAAC, the rest by DHCPv6
            options["dhcpv6_stateless"] = "true"
        if subnet.dns_nameservers:
            options["dns_server"] = "{" + ", ".join(subnet.dns_nameservers) + "}"
    return DhcpSpec(str(subnet.uuid), str(net), options, _ids("subnet", subnet, network=subnet.network.uuid))


def port_spec(port, allocations=None):
    allocations = list(port.ip_allocations.select_related("subnet")) if allocations is None else allocations
    ids = _ids("port", port, network=port.network.uuid, device_owner=port.device_owner or "free")
    if port.device_owner in ROUTER_OWNERS:
        lrp = (
            port.router_interface.lrp_name
            if port.device_owner == DeviceOwner.ROUTER_INTERFACE
            else port.gateway_of.gateway_lrp_name
        )
        options = {"router-port": lrp}
        if port.device_owner == DeviceOwner.ROUTER_INTERFACE:
            vips = _vips_on(port.router_interface.subnet_id)
            if vips:
                options["arp_proxy"] = " ".join(vips)
        return PortSpec(port.interface_id, ("router",), type="router", options=options, external_ids=ids)
    address = " ".join([port.mac_address, *(a.address for a in allocations)])
    dhcp = {4: None, 6: None}
    for allocation in allocations:
        if allocation.subnet.serves_dhcp and dhcp[allocation.subnet.ip_version] is None:
            dhcp[allocation.subnet.ip_version] = str(allocation.subnet.uuid)
    return PortSpec(
        port.interface_id,
        (address,),
        (address,) if port.port_security else (),
        enabled=port.admin_state_up,
        dhcpv4_key=dhcp[4],
        dhcpv6_key=dhcp[6],
        external_ids=ids,
    )


def _vips_on(subnet_id):
    """No port holds a load balancer's VIP, so nothing on its switch answers ARP for it; the
    subnet's router port does (options:arp_proxy), and the switch's load balancer DNATs the
    traffic before it reaches the router."""
    return sorted(
        LoadBalancer.objects.filter(subnet_id=subnet_id)
        .exclude(state=State.DELETING)
        .values_list("vip_allocation__address", flat=True)
    )


def network_port_specs(network):
    """Every port of the network in two queries."""
    ports = list(
        Port.objects.filter(network=network)
        .exclude(state=State.DELETING)
        .select_related("network", "router_interface", "gateway_of")
    )
    by_port = {}
    for allocation in IPAllocation.objects.filter(port__in=ports).select_related("subnet"):
        by_port.setdefault(allocation.port_id, []).append(allocation)
    specs = [port_spec(port, by_port.get(port.pk, [])) for port in ports]
    if network.is_provider:
        specs.append(localnet_spec(network))
    return specs


# --- security groups ------------------------------------------------------------------------


def _guarded(port):
    return port.port_security and port.device_owner not in ROUTER_OWNERS


def drop_group_spec(with_ports=True):
    """Ports with port security drop all IP traffic unless a security group allows it; DHCP
    requests must still reach OVN's native DHCP responder."""
    acls = (
        AclSpec("to-lport", ACL_PRIORITY_DROP, f"outport == @{DROP_GROUP} && ip", "drop"),
        AclSpec("from-lport", ACL_PRIORITY_DROP, f"inport == @{DROP_GROUP} && ip", "drop"),
        AclSpec(
            "from-lport",
            ACL_PRIORITY_ALLOW,
            f"inport == @{DROP_GROUP} && ip4 && udp && udp.src == 68 && udp.dst == 67",
            "allow",
        ),
        AclSpec(
            "from-lport",
            ACL_PRIORITY_ALLOW,
            f"inport == @{DROP_GROUP} && ip6 && udp && udp.src == 546 && udp.dst == 547",
            "allow",
        ),
    )
    ports = None
    if with_ports:
        ports = tuple(
            str(u)
            for u in Port.objects.filter(port_security=True, network__backend="ovn")
            .exclude(device_owner__in=ROUTER_OWNERS)
            .exclude(state=State.DELETING)
            .values_list("uuid", flat=True)
        )
    return PortGroupSpec(DROP_GROUP, acls, ports, marker("drop_group", "all"))


def rule_acl(rule, group):
    ip = "ip4" if rule.ethertype == "IPv4" else "ip6"
    ingress = rule.direction == Direction.INGRESS
    side = "src" if ingress else "dst"
    match = [f"{'outport' if ingress else 'inport'} == @{group.port_group_name}", ip]
    if rule.remote_cidr:
        match.append(f"{ip}.{side} == {rule.remote_cidr}")
    if rule.remote_group_id:
        # northd keeps an address set of every port group's addresses: $<group>_ip4 / _ip6.
        match.append(f"{ip}.{side} == ${rule.remote_group.port_group_name}_{ip}")
    if rule.protocol in (Protocol.TCP, Protocol.UDP):
        match.append(rule.protocol)
        if rule.port_range_min is not None:
            low, high = rule.port_range_min, rule.port_range_max
            match.append(
                f"{rule.protocol}.dst == {low}"
                if low == high
                else f"{rule.protocol}.dst >= {low} && {rule.protocol}.dst <= {high}"
            )
    elif rule.protocol == Protocol.ICMP:
        match.append("icmp4" if ip == "ip4" else "icmp6")
    return AclSpec(
        "to-lport" if ingress else "from-lport",
        ACL_PRIORITY_ALLOW,
        " && ".join(match),
        "allow-related",
        marker("security_group_rule", rule.pk, rule.project_id),
    )


def group_spec(group, with_ports=True):
    acls = tuple(rule_acl(rule, group) for rule in group.rules.select_related("remote_group"))
    ports = None
    if with_ports:
        ports = tuple(str(port.uuid) for port in group.ports.exclude(state=State.DELETING) if _guarded(port))
    return PortGroupSpec(group.port_group_name, acls, ports, _ids("security_group", group, name=group.name))


def port_groups_of(port):
    if not _guarded(port):
        return set()
    return {DROP_GROUP, *(g.port_group_name for g in SecurityGroup.objects.filter(ports=port))}


# --- routers and floating IPs ---------------------------------------------------------------


def _prefixed(address, cidr):
    return f"{address}/{ipaddress.ip_network(cidr).prefixlen}"


def ra_configs(subnet):
    """What the router port advertises on an IPv6 subnet with an RA mode ({}: no advertisements)."""
    if subnet.ip_version != 6 or not subnet.ipv6_ra_mode:
        return {}
    return {
        "address_mode": OVN_RA_ADDRESS_MODES[subnet.ipv6_mode],
        "send_periodic": "true",
        "mtu": str(subnet.network.mtu or subnet.network.default_mtu()),
        "max_interval": str(RA_MAX_INTERVAL_S),
        "min_interval": str(RA_MIN_INTERVAL_S),
    }


def router_spec(router):
    ports, routes, nats = [], [], []
    interfaces = list(RouterInterface.objects.filter(router=router).select_related("subnet__network", "port"))
    for interface in interfaces:
        subnet = interface.subnet
        ports.append(
            RouterPortSpec(
                interface.lrp_name,
                interface.port.mac_address,
                (_prefixed(subnet.gateway_ip, subnet.cidr),),
                external_ids=_ids("router_interface", interface.port),
                ipv6_ra_configs=ra_configs(subnet),
            )
        )
    gateway = router.gateway_allocation
    if gateway is not None:
        subnet = gateway.subnet
        ports.append(
            RouterPortSpec(
                router.gateway_lrp_name,
                router.gateway_port.mac_address,
                (_prefixed(gateway.address, subnet.cidr),),
                tuple(net_settings.gateway_chassis()),
                _ids("router_gateway", router),
            )
        )
        if subnet.gateway_ip:
            routes.append(RouteSpec(DEFAULT_ROUTES[subnet.ip_version], subnet.gateway_ip))
        if router.enable_snat:
            nats.extend(
                NatSpec("snat", gateway.address, interface.subnet.cidr, external_ids=_ids("router", router))
                for interface in interfaces
                if interface.subnet.ip_version == 4
            )
        for fip in (
            router.floating_ips.filter(port__isnull=False).exclude(state=State.DELETING).select_related("allocation")
        ):
            nats.append(
                NatSpec("dnat_and_snat", fip.allocation.address, fip.fixed_ip, external_ids=_ids("floating_ip", fip))
            )
    routes.extend(RouteSpec(r["destination"], r["nexthop"]) for r in router.routes)
    return RouterSpec(
        router.router_name, tuple(ports), tuple(routes), tuple(nats), _ids("router", router, name=router.name)
    )


# --- load balancers -------------------------------------------------------------------------


def load_balancer_spec(lb):
    vip = f"{lb.vip}:{lb.port}" if ipaddress.ip_address(lb.vip).version == 4 else f"[{lb.vip}]:{lb.port}"
    members = list(lb.members.all())
    backends = ",".join(f"{m.address}:{m.port}" for m in members)
    checks, mappings = (), {}
    if lb.health_check and members and lb.monitor_allocation_id:
        checks = (
            HealthCheckSpec(
                vip,
                {
                    "interval": lb.hc_interval,
                    "timeout": lb.hc_timeout,
                    "success_count": lb.hc_success_count,
                    "failure_count": lb.hc_failure_count,
                },
            ),
        )
        # OVN probes a member from a source address of the subnet that no port holds.
        held = IPAllocation.objects.filter(
            subnet=lb.subnet, address__in=[m.address for m in members], port__isnull=False
        ).select_related("port")
        mappings = {a.address: f"{a.port.interface_id}:{lb.monitor_address}" for a in held}
    interface = RouterInterface.objects.filter(subnet=lb.subnet).select_related("router").first()
    routers = (interface.router.router_name,) if interface else ()
    return LoadBalancerSpec(
        lb.lb_name,
        {vip: backends} if members else {},
        lb.protocol,
        checks,
        mappings,
        (lb.subnet.network.switch_name,),
        routers,
        _ids("load_balancer", lb, name=lb.name),
    )
