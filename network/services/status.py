"""Ports' link state read back from the backend (OVN's Logical_Switch_Port.up) in bulk, and
published to `network.port.<pk>` and `network.network.<pk>` when it changes."""
from network import backends
from network.choices import Backend, PortStatus, State
from network.models import Port
from portal import realtime

PORT_EVENT = "port"


def _status(up):
    return PortStatus.UNKNOWN if up is None else PortStatus.UP if up else PortStatus.DOWN


def publish_port(port):
    from network.api.serializers import PortSerializer  # the API's own representation

    data = PortSerializer(port).data
    realtime.publish(f"network.port.{port.pk}", PORT_EVENT, data)
    realtime.publish(f"network.network.{port.network_id}", PORT_EVENT, data)
    realtime.publish(f"project.{port.project_id}", PORT_EVENT, data)


def refresh_port_status():
    """One read of every OVN port's state; returns how many ports changed."""
    backend = backends.for_name(Backend.OVN)
    ports = {p.interface_id: p for p in Port.objects.filter(network__backend=Backend.OVN)
             .exclude(state=State.DELETING).only("pk", "uuid", "status")}
    if not ports:
        return 0
    changed = []
    for name, up in backend.port_states(list(ports)).items():
        status = _status(up)
        if ports[name].status != status:
            Port.objects.filter(pk=ports[name].pk).update(status=status)
            changed.append(ports[name].pk)
    for port in Port.objects.filter(pk__in=changed).select_related("network").prefetch_related(
            "ip_allocations", "security_groups"):
        publish_port(port)
    return len(changed)
