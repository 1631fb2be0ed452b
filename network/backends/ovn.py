"""The OVN backend: realises the database in the OVN Northbound database through the gateway
in network/ovn/, and syncs it back when rows were deleted or edited behind our back."""

import contextlib
import logging

from network import conf as net_settings
from network.backends import ovn_specs as specs
from network.backends.base import BackendError, NetworkBackend, SyncReport
from network.choices import Backend, State
from network.models import FloatingIP, LoadBalancer, Network, Router, SecurityGroup
from network.ovn import nb, sb
from network.ovn.errors import OvnError
from network.ovn.specs import Endpoint
from network.segments import next_tunnel_key
from network.tasks import objects as object_tasks
from network.tasks import status

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _reasoned():
    try:
        yield
    except OvnError as exc:
        raise BackendError(f"OVN: {exc}") from exc


def endpoint():
    return Endpoint(net_settings.ovn_nb_endpoint(), net_settings.ovn_timeout())


def sb_endpoint():
    return Endpoint(net_settings.ovn_sb_endpoint(), net_settings.ovn_timeout())


class OvnBackend(NetworkBackend):
    name = Backend.OVN
    supports_routers = supports_security_groups = supports_load_balancers = True

    @property
    def label(self):
        return "OVN (embedded Northbound)" if net_settings.embedded_nb() else "OVN"

    @property
    def note(self):
        """The embedded default's own NB: rows nothing reads (no ovn-northd, no chassis)."""
        return net_settings.EMBEDDED_NOTE if net_settings.embedded_nb() else ""

    # --- networks, subnets, ports -----------------------------------------------------------
    def tunnel_keys_in_use(self):
        """Every requested tunnel key in the NB. Unreachable: the database's keys alone (the
        realisation checks again and moves a network whose key a stranger took meanwhile)."""
        try:
            return set(nb.switch_tunnel_keys(endpoint()).values())
        except OvnError as exc:
            log.warning("tunnel keys: cannot read the NB (%s); allocating from the database only", exc)
            return set()

    def _claim_tunnel_key(self, ep, network):
        """If another switch in the NB asks for this network's key, take a free one."""

        keys = nb.switch_tunnel_keys(ep)
        others = {key for name, key in keys.items() if name != network.switch_name}
        if network.tunnel_key is None or network.tunnel_key not in others:
            return
        old, network.tunnel_key = network.tunnel_key, next_tunnel_key(network.segment_type, others)
        Network.objects.filter(pk=network.pk).update(tunnel_key=network.tunnel_key)
        log.warning(
            "network %s: tunnel key %s is taken in the NB by another switch; moved to %s",
            network.pk,
            old,
            network.tunnel_key,
        )

    def realise_network(self, network):
        """DHCP options first (committed), then the switch with its ports (which reference them)."""
        ep = endpoint()
        with _reasoned():
            changed = 0
            self._claim_tunnel_key(ep, network)
            for subnet in network.subnets.exclude(state=State.DELETING):
                if subnet.serves_dhcp:
                    nb.dhcp_options_ensure(ep, specs.dhcp_spec(subnet))
                else:
                    nb.dhcp_options_delete(ep, str(subnet.uuid))
            # One transaction for the switch and its ports: a switch deleted behind our back
            # but still in our replica is retried and made again, ports and all.
            changed += nb.ports_ensure(ep, specs.switch_spec(network), specs.network_port_specs(network))
        return changed

    def remove_subnet(self, subnet):
        with _reasoned():
            nb.dhcp_options_delete(endpoint(), str(subnet.uuid))

    def remove_network(self, network):
        ep = endpoint()
        with _reasoned():
            nb.switch_delete(ep, network.switch_name)
            for subnet in network.subnets.all():
                nb.dhcp_options_delete(ep, str(subnet.uuid))

    def realise_port(self, port):
        ep = endpoint()
        with _reasoned():
            for subnet in {a.subnet for a in port.ip_allocations.select_related("subnet")}:
                if subnet.serves_dhcp:
                    nb.dhcp_options_ensure(ep, specs.dhcp_spec(subnet))
            changed = nb.ports_ensure(ep, port.network.switch_name, [specs.port_spec(port)])
            groups = specs.port_groups_of(port)
            for group in SecurityGroup.objects.filter(ports=port):
                changed += nb.port_group_ensure(ep, specs.group_spec(group, with_ports=False))
            if groups:
                changed += nb.port_group_ensure(ep, specs.drop_group_spec(with_ports=False))
            changed += nb.port_memberships_ensure(ep, port.interface_id, groups)
        return changed

    def remove_port(self, port):
        with _reasoned():
            nb.port_delete(endpoint(), port.interface_id)

    def nic_for(self, port):
        return {
            "kind": "bridge",
            "bridge": "br-int",
            "interface_id": port.interface_id,
            "mac": port.mac_address,
            "checksum_offload": False,
        }

    # --- security groups --------------------------------------------------------------------
    def realise_security_group(self, group):
        with _reasoned():
            return nb.port_group_ensure(endpoint(), specs.group_spec(group))

    def remove_security_group(self, group):
        self.remove_port_group(group.port_group_name)

    def remove_port_group(self, name):
        with _reasoned():
            nb.port_group_delete(endpoint(), name)

    # --- routers, floating IPs, load balancers ----------------------------------------------
    def realise_router(self, router):
        ep = endpoint()
        with _reasoned():
            changed = nb.router_ensure(ep, specs.router_spec(router))
            networks = {i.subnet.network for i in router.interfaces.select_related("subnet__network")}
            if router.gateway_port_id:
                networks.add(router.gateway_port.network)
            for network in networks:  # the router-type switch ports now have their peer
                changed += nb.ports_ensure(ep, network.switch_name, specs.network_port_specs(network))
        return changed

    def remove_router(self, router):
        with _reasoned():
            nb.router_delete(endpoint(), router.router_name)

    def realise_load_balancer(self, load_balancer):
        ep = endpoint()
        with _reasoned():
            changed = nb.load_balancer_ensure(ep, specs.load_balancer_spec(load_balancer))
            return changed + self._vip_arp_ensure(ep, load_balancer)

    def remove_load_balancer(self, load_balancer):
        ep = endpoint()
        with _reasoned():
            nb.load_balancer_delete(ep, load_balancer.lb_name)
            self._vip_arp_ensure(ep, load_balancer)

    def _vip_arp_ensure(self, ep, load_balancer):
        """The router port on the VIP's subnet answers ARP for the VIPs there (arp_proxy)."""
        interface = load_balancer.subnet.router_interfaces.select_related("port__network").first()
        if interface is None:
            return 0
        return nb.ports_ensure(ep, interface.port.network.switch_name, [specs.port_spec(interface.port)])

    # --- sync -------------------------------------------------------------------------------
    def sync(self, clean_orphans=False):
        """Make NB match the database again; report (and optionally delete) rows we made for
        objects that no longer exist. Rows without our marker are never looked at."""

        report = SyncReport()
        ep = endpoint()
        with _reasoned():
            nb.ping(ep)
            report.removed = object_tasks.finish_pending_deletes(self)
            expected = self._realise_all(ep, report)
            status.refresh_port_status()
            for row in nb.owned_rows(ep):
                if (row.table, row.name if row.table != "DHCP_Options" else row.object_id) not in expected:
                    report.orphans.append(row)
                    if clean_orphans:
                        nb.owned_row_delete(ep, row.table, row.uuid)
        return report

    def _realise_all(self, ep, report):
        expected = set()
        networks = list(Network.objects.filter(backend=Backend.OVN).exclude(state=State.DELETING))
        for network in networks:
            report.repaired += self._checked(report, network, lambda n=network: self.realise_network(n))
            expected.add(("Logical_Switch", network.switch_name))
            expected.update(("Logical_Switch_Port", s.name) for s in specs.network_port_specs(network))
            expected.update(("DHCP_Options", str(s.uuid)) for s in network.subnets.all() if s.serves_dhcp)
        report.realised["networks"] = len(networks)
        report.repaired += nb.port_group_ensure(ep, specs.drop_group_spec())
        expected.add(("Port_Group", specs.DROP_GROUP))
        for kind, objects, realise, names in (
            (
                "security_groups",
                SecurityGroup.objects.all(),
                self.realise_security_group,
                lambda g: [("Port_Group", g.port_group_name)],
            ),
            (
                "routers",
                Router.objects.all(),
                self.realise_router,
                lambda r: [
                    ("Logical_Router", r.router_name),
                    *(("Logical_Router_Port", p.name) for p in specs.router_spec(r).ports),
                ],
            ),
            (
                "load_balancers",
                LoadBalancer.objects.all(),
                self.realise_load_balancer,
                lambda lb: [("Load_Balancer", lb.lb_name)],
            ),
        ):
            rows = list(objects.exclude(state=State.DELETING))
            for obj in rows:
                report.repaired += self._checked(report, obj, lambda o=obj, f=realise: f(o))
                expected.update(names(obj))
            report.realised[kind] = len(rows)
        FloatingIP.objects.filter(state__in=(State.PENDING, State.ERROR), router__isnull=False).update(
            state=State.ACTIVE, state_reason=""
        )
        return expected

    def _checked(self, report, obj, realise):
        try:
            changed = realise() or 0
        except BackendError as exc:
            report.errors.append(f"{obj._meta.model_name} {obj}: {exc}")
            type(obj).objects.filter(pk=obj.pk).update(state=State.ERROR, state_reason=str(exc)[:500])
            return 0
        if obj.state != State.ACTIVE:
            type(obj).objects.filter(pk=obj.pk).update(state=State.ACTIVE, state_reason="")
        return changed

    def member_states(self):
        """{(member ip, port, protocol): online | offline} from the SB's Service_Monitor rows;
        {} when no Southbound endpoint is configured."""
        if not net_settings.ovn_sb_endpoint():
            return {}
        with _reasoned():
            monitors = sb.service_monitors(sb_endpoint())
        return {(m.ip, m.port, m.protocol): m.status for m in monitors if m.status}

    def chassis_names(self):
        """Names and hostnames of the chassis registered in the Southbound database."""
        with _reasoned():
            return sb.chassis_names(sb_endpoint())

    def port_options_update(self, name, options, remove=()):
        """Set / drop keys of one logical switch port's options (e.g. its requested chassis)."""
        with _reasoned():
            return nb.port_options_update(endpoint(), name, options, tuple(remove))

    def port_states(self, names):
        """{logical port name: up?} (None: no chassis has said) in one read."""
        with _reasoned():
            return nb.port_states(endpoint(), names)
