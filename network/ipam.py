"""IP address management with the standard `ipaddress` module: parsing and checking subnets,
pools and routes (pure functions, used by the models' clean()), and allocating addresses in
the database. The unique (subnet, address) constraint is the lock: two concurrent requests
can never hold the same address, the loser moves on to the next free one."""

import ipaddress

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from network.choices import AUTO_ADDRESS_MODES, EUI64_PREFIX_LEN, MAX_POOL_SCAN


def parse_network(text, field="cidr"):
    try:
        return ipaddress.ip_network(str(text).strip(), strict=True)
    except ValueError as exc:
        raise ValidationError({field: f"{text!r} is not a valid network address with prefix: {exc}"}) from exc


def check_prefix(net):
    """A subnet holds at least a gateway and a host: no single-address prefix (/32, /128), and
    no default route (0.0.0.0/0, ::/0), which would swallow every destination."""
    if net.prefixlen == 0:
        raise ValidationError({"cidr": f"{net} is every address (a default route), not a subnet."})
    if net.prefixlen == net.max_prefixlen:
        raise ValidationError({"cidr": f"{net} is a single address; a subnet needs room for a gateway and hosts."})


def parse_address(text, field):
    try:
        return ipaddress.ip_address(str(text).strip())
    except ValueError as exc:
        raise ValidationError({field: f"{text!r} is not a valid IP address."}) from exc


def usable_hosts(net):
    """First and last address a host may take (no network or IPv4 broadcast address)."""
    if net.version == 4 and net.prefixlen < 31:
        return net.network_address + 1, net.broadcast_address - 1
    if net.version == 6 and net.prefixlen < 127:
        return net.network_address + 1, net.broadcast_address
    return net.network_address, net.broadcast_address


def default_gateway(net):
    return usable_hosts(net)[0]


def default_pools(net, gateway):
    """The usable range minus the gateway, as [[start, end], ...]."""
    first, last = usable_hosts(net)
    pools = []
    if gateway is not None and first <= gateway <= last:
        if first < gateway:
            pools.append([str(first), str(gateway - 1)])
        if gateway < last:
            pools.append([str(gateway + 1), str(last)])
    else:
        pools.append([str(first), str(last)])
    return pools


def check_pools(net, pools, gateway):
    """Parsed [(start, end)]; each inside the subnet, ordered, not overlapping, gateway outside."""
    if not isinstance(pools, list):
        raise ValidationError({"allocation_pools": "Give a list of [start, end] pairs."})
    parsed = []
    first, last = usable_hosts(net)
    for pair in pools:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValidationError({"allocation_pools": f"{pair!r} is not a [start, end] pair."})
        start, end = (parse_address(value, "allocation_pools") for value in pair)
        if not (first <= start <= end <= last):
            raise ValidationError(
                {"allocation_pools": f"{start}-{end} is not an ordered range of host addresses in {net}."}
            )
        if gateway is not None and start <= gateway <= end:
            raise ValidationError({"allocation_pools": f"The pool {start}-{end} contains the gateway {gateway}."})
        parsed.append((start, end))
    parsed.sort()
    for (_, end), (start, _) in zip(parsed, parsed[1:], strict=False):
        if start <= end:
            raise ValidationError({"allocation_pools": "Allocation pools overlap."})
    return parsed


def check_host_routes(net, routes):
    if not isinstance(routes, list):
        raise ValidationError({"host_routes": "Give a list of {destination, nexthop}."})
    for route in routes:
        if not isinstance(route, dict) or set(route) != {"destination", "nexthop"}:
            raise ValidationError({"host_routes": f"{route!r} needs exactly 'destination' and 'nexthop'."})
        destination = parse_network(route["destination"], "host_routes")
        nexthop = parse_address(route["nexthop"], "host_routes")
        if destination.version != net.version or nexthop not in net:
            raise ValidationError({"host_routes": f"The next hop {nexthop} must be in {net} (same IP version)."})


def check_dns(servers, version=None):
    if not isinstance(servers, list):
        raise ValidationError({"dns_nameservers": "Give a list of addresses."})
    for server in servers:
        parse_address(server, "dns_nameservers")


def check_ipv6_modes(net, ra_mode, address_mode, enable_dhcp):
    """Neutron's rules for ipv6_ra_mode / ipv6_address_mode."""
    for field, mode in (("ipv6_ra_mode", ra_mode), ("ipv6_address_mode", address_mode)):
        if mode and net.version != 6:
            raise ValidationError({field: "Only an IPv6 subnet takes an IPv6 mode."})
    if ra_mode and address_mode and ra_mode != address_mode:
        raise ValidationError(
            {
                "ipv6_address_mode": f"ipv6_ra_mode {ra_mode} with ipv6_address_mode {address_mode} "
                "is not valid: when both are set they must be the same."
            }
        )
    if (ra_mode or address_mode) and not enable_dhcp:
        raise ValidationError({"enable_dhcp": "An IPv6 mode needs DHCP enabled (as in Neutron)."})
    mode_field = "ipv6_address_mode" if address_mode else "ipv6_ra_mode"
    if (address_mode or ra_mode) in AUTO_ADDRESS_MODES and net.prefixlen != EUI64_PREFIX_LEN:
        raise ValidationError(
            {
                mode_field: f"{address_mode or ra_mode} makes EUI-64 addresses, which need a "
                f"/{EUI64_PREFIX_LEN} prefix; {net} is a /{net.prefixlen}."
            }
        )


def eui64(net, mac):
    """The address a host with `mac` makes for itself in the /64 `net` (RFC 4291, appendix A)."""
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 0x02  # the universal/local bit is inverted in the interface identifier
    identifier = bytes(octets[:3] + [0xFF, 0xFE] + octets[3:])
    return net.network_address + int.from_bytes(identifier, "big")


class SubnetFull(Exception):
    pass


class AddressInUse(Exception):
    pass


def _candidates(subnet, used):
    scanned = 0
    for start, end in subnet.pools():
        address = start
        while address <= end and scanned < MAX_POOL_SCAN:
            if str(address) not in used:
                yield address
            address += 1
            scanned += 1


def allocate(subnet, *, port=None, address=None):
    """Take an address in `subnet` for `port` (None: a floating IP, a router gateway, a VIP).
    A chosen address must be a host address of the subnet and not the gateway; otherwise the
    first free address in the pools is taken; a port on a SLAAC / DHCPv6-stateless subnet gets
    its EUI-64 address, the one its host makes anyway. Raises AddressInUse / SubnetFull."""
    from network.models import IPAllocation  # network.models imports this module (ipam runs from model code)

    if port is not None and subnet.auto_address and port.device_owner != "router_interface":
        if address is not None:
            raise ValidationError(
                {
                    "fixed_ips": f"{subnet.cidr} makes addresses from the port's MAC "
                    f"({subnet.ipv6_mode}); it takes no chosen address."
                }
            )
        address = eui64(subnet.network_obj(), port.mac_address)
    if address is not None:
        chosen = parse_address(address, "fixed_ips")
        first, last = usable_hosts(subnet.network_obj())
        if not (first <= chosen <= last) or chosen.version != subnet.ip_version:
            raise ValidationError({"fixed_ips": f"{chosen} is not a host address of {subnet.cidr}."})
        if (
            subnet.gateway_ip
            and chosen == ipaddress.ip_address(subnet.gateway_ip)
            and (port is None or port.device_owner != "router_interface")
        ):
            raise ValidationError({"fixed_ips": f"{chosen} is the gateway of {subnet.cidr}."})
        try:
            with transaction.atomic():
                return IPAllocation.objects.create(subnet=subnet, address=str(chosen), port=port)
        except IntegrityError:
            raise AddressInUse(f"{chosen} is already in use on {subnet.cidr}.") from None
    used = set(IPAllocation.objects.filter(subnet=subnet).values_list("address", flat=True))
    for candidate in _candidates(subnet, used):
        try:
            with transaction.atomic():
                return IPAllocation.objects.create(subnet=subnet, address=str(candidate), port=port)
        except IntegrityError:
            continue  # taken meanwhile by a concurrent request: try the next one
    raise SubnetFull(f"No free address left in {subnet.cidr}.")
