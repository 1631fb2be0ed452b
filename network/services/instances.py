"""What compute calls to wire an instance's NICs to ports (see the module's functions)."""
from django.db import transaction

from network import backends
from network.choices import DeviceOwner, State
from network.models import Port
from network.services.common import queue
from network.services.l2 import create_port, delete_port


def plug_instance(instance, network, *, user=None, fixed_ip=None, security_groups=None):
    """A port for one NIC of `instance` on `network` (call inside compute's create transaction).
    Returns (port, nic_kwargs); build the NIC with hypervisor.domain_xml.NicSpec(**nic_kwargs)."""
    fixed_ips = [{"ip_address": fixed_ip}] if fixed_ip else None
    port, _ = create_port(user, instance.project, network, name=f"{instance.name} nic"[:63], fixed_ips=fixed_ips,
                          security_groups=security_groups, device_owner=DeviceOwner.INSTANCE, instance=instance,
                          queue_op=False)
    queue("port.create", port, user)
    return port, nic_spec(port)


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



