"""The embedded default: each network is an isolated libvirt network (with DHCP for its first
IPv4 subnet) on every simulated host that is up. Never on a real host: a real fleet's networks
are OVN's, and a bridge, dnsmasq and iptables rules of ours do not belong on its hypervisors.
Routers, security groups and load balancers need OVN and answer Unsupported here."""

import ipaddress

from compute.models import Host
from hypervisor import networks as hv_networks
from hypervisor.errors import HypervisorError
from network.backends.base import BackendError, NetworkBackend
from network.choices import Backend
from network.models import IPAllocation

HOST_UP = "up"


def _hosts():
    # by URI, the one thing that makes a host simulated (the flag is set when a form cleans it)
    return list(Host.objects.filter(state=HOST_UP, uri__startswith="test:").values_list("uri", flat=True))


def libvirt_name(network):
    return f"nubes-{network.uuid}"


def network_spec(network):
    subnet = network.subnets.filter(ip_version=4).order_by("id").first()
    address = prefix = dhcp_range = None
    hosts = ()
    if subnet is not None:
        net = ipaddress.ip_network(subnet.cidr)
        address = subnet.gateway_ip or str(next(iter(net.hosts())))  # a list for /31 and /32
        prefix = net.prefixlen
        if subnet.enable_dhcp and subnet.allocation_pools:
            dhcp_range = (subnet.allocation_pools[0][0], subnet.allocation_pools[-1][1])
            hosts = tuple(
                hv_networks.DhcpHost(a.port.mac_address, a.address)
                for a in IPAllocation.objects.filter(subnet=subnet, port__isnull=False).select_related("port")
            )
    return hv_networks.NetworkSpec(
        libvirt_name(network),
        str(network.uuid),
        f"nb{network.uuid.hex[:12]}",
        network.mtu or network.default_mtu(),
        address,
        prefix,
        dhcp_range,
        hosts,
    )


class LibvirtBackend(NetworkBackend):
    name = Backend.LIBVIRT
    label = "libvirt (embedded)"

    def realise_network(self, network):
        spec = network_spec(network)
        changed = 0
        for uri in _hosts():
            try:
                changed += int(hv_networks.network_ensure(uri, spec))
            except HypervisorError as exc:
                raise BackendError(f"libvirt network on {uri}: {exc}") from exc
        return changed

    def remove_network(self, network):
        for uri in _hosts():
            try:
                hv_networks.network_remove(uri, libvirt_name(network))
            except HypervisorError as exc:
                raise BackendError(f"libvirt network on {uri}: {exc}") from exc

    def remove_subnet(self, subnet):
        return None  # the network is redefined without it by the caller

    def realise_port(self, port):
        # A port is a DHCP host entry of its network's definition.
        return self.realise_network(port.network)

    def remove_port(self, port):
        return None

    def nic_for(self, port):
        return {"kind": "network", "network": libvirt_name(port.network), "mac": port.mac_address}
