"""What compute calls (through compute.hooks, which NetworkConfig.ready() fills) to wire an
instance's NICs to ports: ports made in compute's create transaction, NICs in its domain XML,
ports removed once its domain is gone, and the migration pre-check (OVN ports move only to a
chassis)."""

import logging

from django.db import transaction

import hypervisor as hv
from network import backends
from network import conf as net_settings
from network.backends.base import BackendError
from network.choices import Backend, DeviceOwner, State
from network.models import IPAllocation, Network, Port, SecurityGroup
from network.services.common import queue
from network.services.l2 import create_port, delete_port
from portal.errors import ActionError

NIC_NAME_MAX = 63
# While a live migration runs the ports stay bound to the source (requested-chassis); once it
# ends the option goes and the chassis where the guest runs claims them.
REQUESTED_CHASSIS = "requested-chassis"
ACTIVATION = "activation-strategy"  # set by earlier versions during a move; removed with it
log = logging.getLogger(__name__)


def plug_instance(instance, network, *, user=None, fixed_ip=None, security_groups=None):
    """A port for one NIC of `instance` on `network` (call inside compute's create transaction).
    Returns (port, nic_kwargs); build the NIC with hypervisor.domain_xml.NicSpec(**nic_kwargs)."""
    fixed_ips = [{"ip_address": fixed_ip}] if fixed_ip else None
    port, _ = create_port(
        user,
        instance.project,
        network,
        name=f"{instance.name} nic"[:NIC_NAME_MAX],
        fixed_ips=fixed_ips,
        security_groups=security_groups,
        device_owner=DeviceOwner.INSTANCE,
        instance=instance,
        queue_op=False,
    )
    queue("port.create", port, user)
    return port, nic_spec(port)


def make_instance_ports(user, instance, network_ids, security_group_ids=()):
    """compute.hooks port maker: one port per network id, in order; the networks must be usable
    by the instance's project (its own or shared). Chosen security groups (the project's own)
    go on every port; none chosen: the port's usual default."""
    usable = Network.objects.usable_in(instance.project).exclude(state=State.DELETING)
    networks = {n.pk: n for n in usable.filter(pk__in=set(network_ids))}
    missing = sorted(set(network_ids) - set(networks))
    if missing:
        raise ActionError(f"No network {', '.join(map(str, missing))} is available to the project.", field="networks")
    groups = _launch_groups(instance.project, security_group_ids, network_ids)
    for network_id in network_ids:
        plug_instance(instance, networks[network_id], user=user, security_groups=groups)


def _launch_groups(project, group_ids, network_ids):
    if not group_ids:
        return None
    refusal = launch_group_refusal()
    if refusal:
        raise ActionError(refusal, field="security_groups")
    if not network_ids:
        raise ActionError("Security groups apply to ports: choose a network too.", field="security_groups")
    groups = list(SecurityGroup.objects.filter(project=project, pk__in=set(group_ids)))
    missing = sorted(set(group_ids) - {g.pk for g in groups})
    if missing:
        raise ActionError(f"No security group {', '.join(map(str, missing))} in the project.", field="security_groups")
    return groups


def launch_group_refusal():
    """Why a launch cannot choose security groups here (the backend has none), or None."""
    if backends.configured().supports_security_groups:
        return None
    return (
        "This portal's network backend (libvirt networks, the embedded default) has no OVN, so no "
        "security groups: configure OVN (NUBES_OVN_NB) to choose them."
    )


def launch_security_groups(project):
    """compute.hooks security group choices: the project's groups, or why there are none."""
    refusal = launch_group_refusal()
    if refusal:
        return [], refusal
    return [(g.pk, g.name) for g in SecurityGroup.objects.filter(project=project).order_by("name")], None


def launch_choices(project):
    """compute.hooks network choices: what the launch form offers."""
    usable = Network.objects.usable_in(project).exclude(state=State.DELETING).order_by("name")
    return [(n.pk, n.name) for n in usable]


def instance_addresses(instance_ids):
    """{instance id: its ports' fixed IPs}, in one query for a page of instances."""
    found = {}
    rows = IPAllocation.objects.filter(port__instance_id__in=list(instance_ids)).order_by("port_id", "id")
    for instance_id, address in rows.values_list("port__instance_id", "address"):
        found.setdefault(instance_id, []).append(address)
    return found


def instance_nics(instance):
    """compute.hooks NIC provider: a NIC for each of the instance's ports, in creation order."""
    if instance.pk is None:
        return ()
    ports = Port.objects.filter(instance=instance).exclude(state=State.DELETING).select_related("network")
    return tuple(hv.NicSpec(**nic_spec(port), queues=instance.flavor.nic_queues) for port in ports.order_by("id"))


def nic_spec(port):
    """NicSpec keyword arguments for a port: an OVS virtualport with the OVN logical port's
    name as interfaceid (OVN), or the libvirt network (embedded default)."""
    return backends.for_name(port.network.backend).nic_for(port)


def unplug_instance(instance, *, user=None):
    """Delete the instance's ports (call when the instance is deleted); returns the Operations."""
    ops = []
    with transaction.atomic():
        for port in Port.objects.filter(instance=instance).exclude(state=State.DELETING):
            ops.append(delete_port(user, port))
    return ops


def instance_removed(sender, instance, **kwargs):
    """compute.hooks.instance_removed receiver: the domain is gone, so are its ports."""
    unplug_instance(instance)


def migration_check(instance, target):
    """compute.hooks migration check: an instance with ports on OVN networks moves only to a host
    that is an OVN chassis (its name or hostname is a Chassis row's name or hostname in the
    Southbound database), or its NICs would plug into a br-int nobody programs. None when fine."""
    ovn_ports = Port.objects.filter(instance=instance, network__backend=Backend.OVN).exclude(state=State.DELETING)
    if not ovn_ports.exists() or net_settings.embedded_nb():
        return None  # the embedded default's own NB has no data plane: no chassis to move to
    if not net_settings.ovn_sb_endpoint():
        return (
            f"{instance.name} has OVN ports and the OVN Southbound endpoint is not configured: whether "
            f"{target.name} is an OVN chassis cannot be checked."
        )
    try:
        chassis = backends.for_name(Backend.OVN).chassis_names()
    except BackendError as exc:
        return f"Cannot check that {target.name} is an OVN chassis for the ports of {instance.name}: {exc}"
    names = {target.name, (target.facts or {}).get("hostname") or target.name}
    if chassis.isdisjoint(names):
        return (
            f"Target host {target.name} is not an OVN chassis (no Chassis row of that name in the "
            f"Southbound database): the OVN ports of {instance.name} would not follow it there."
        )
    return None


def _ovn_ports(instance):
    return Port.objects.filter(instance=instance, network__backend=Backend.OVN).exclude(state=State.DELETING)


def _chassis_of(host, chassis):
    """The name OVN knows ``host`` by (its name, else its hostname, as migration_check accepts)."""
    hostname = (host.facts or {}).get("hostname") or ""
    return host.name if host.name in chassis or hostname not in chassis else hostname


def _update_ports(instance, options, remove=()):
    backend = backends.for_name(Backend.OVN)
    for port in _ovn_ports(instance):
        try:
            backend.port_options_update(port.interface_id, options, remove)
        except BackendError as exc:
            log.warning("port %s of %s: options not updated for its migration: %s", port.pk, instance, exc)


def migration_starting(sender, instance, source, target, live=True, **kwargs):
    """compute.hooks.instance_migrating receiver: keep a live-migrating instance's OVN ports bound
    to the source until the move ends, so the target's ovn-controller does not claim them when
    QEMU's tap appears there. Not bound on both chassis with RARP activation: QEMU sends its RARP
    while the destination is still paused, so echoes reached the tap before the guest ran and
    under TCG the guest stayed deaf after about 1 move in 3 on the lab."""
    if not live or net_settings.embedded_nb() or not _ovn_ports(instance).exists():
        return
    try:
        chassis = backends.for_name(Backend.OVN).chassis_names()
    except BackendError as exc:
        log.warning("ports of %s not held on %s while it moves: %s", instance, source, exc)
        return
    _update_ports(instance, {REQUESTED_CHASSIS: _chassis_of(source, chassis)}, (ACTIVATION,))


def migration_ended(sender, instance, **kwargs):
    """compute.hooks.instance_migration_ended receiver: whatever happened, the ports bind where
    the guest runs again (ovn-controller claims them there)."""
    if _ovn_ports(instance).exists():
        _update_ports(instance, {}, (REQUESTED_CHASSIS, ACTIVATION))
