"""Ports' link state read back from the backend (OVN's Logical_Switch_Port.up) in bulk, and
published to `network.port.<pk>` and `network.network.<pk>` when it changes; load balancer
members' health from OVN's Service_Monitor. Beat runs both (port_status_periodic); the sync
refreshes ports too."""

import logging

from celery import shared_task

from network import backends
from network.backends.base import BackendError
from network.choices import Backend, MemberStatus, PortStatus, State
from network.models import LoadBalancerMember, Port
from portal import presenters, realtime

PORT_EVENT = "port"


def _status(up):
    return PortStatus.UNKNOWN if up is None else PortStatus.UP if up else PortStatus.DOWN


def publish_port(port):
    data = presenters.present(port)
    groups = [f"network.port.{port.pk}", f"network.network.{port.network_id}"]
    realtime.publish_to_project(port.project_id, PORT_EVENT, data, also=groups)


def refresh_port_status():
    """One read of every OVN port's state; returns how many ports changed."""
    backend = backends.for_name(Backend.OVN)
    ports = {
        p.interface_id: p
        for p in Port.objects.filter(network__backend=Backend.OVN)
        .exclude(state=State.DELETING)
        .only("pk", "uuid", "status")
    }
    if not ports:
        return 0
    changed = []
    for name, up in backend.port_states(list(ports)).items():
        status = _status(up)
        if ports[name].status != status:
            Port.objects.filter(pk=ports[name].pk).update(status=status)
            changed.append(ports[name].pk)
    for port in (
        Port.objects.filter(pk__in=changed)
        .select_related("network")
        .prefetch_related("ip_allocations", "security_groups")
    ):
        publish_port(port)
    return len(changed)


# Service_Monitor.status -> what a member shows; "error" (the probe could not be sent) is offline.
MONITOR_STATUS = {"online": MemberStatus.ONLINE, "offline": MemberStatus.OFFLINE, "error": MemberStatus.OFFLINE}


def refresh_member_status():
    """Load balancer members' health from OVN's Service_Monitor rows (one SB read); members
    of load balancers without health checks, or not probed yet, are 'not monitored'."""
    backend = backends.for_name(Backend.OVN)
    states = backend.member_states()
    changed = 0
    members = LoadBalancerMember.objects.filter(load_balancer__subnet__network__backend=Backend.OVN).select_related(
        "load_balancer"
    )
    for member in members:
        lb = member.load_balancer
        seen = states.get((member.address, member.port, lb.protocol)) if lb.health_check else None
        status = MONITOR_STATUS.get(seen, MemberStatus.NO_MONITOR)
        if member.status != status:
            LoadBalancerMember.objects.filter(pk=member.pk).update(status=status)
            changed += 1
    return changed


@shared_task(name="network.tasks.port_status_periodic")
def port_status_periodic():
    """Beat: ports' up/down (one NB read, changes published) and load balancer members'
    health (one SB read) from OVN."""

    try:
        return refresh_port_status() + refresh_member_status()
    except BackendError as exc:  # OVN down: the next beat tries again; the sync reports it
        logging.getLogger(__name__).warning("port status: %s", exc)
        return None
