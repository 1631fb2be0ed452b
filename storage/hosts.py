"""Which host does the work for a pool or a volume: used by storage's services and its tasks
alike (below both)."""

from compute.choices import HostState, InstanceState
from portal.errors import Conflict


def manager_host(pool):
    """The host through which a pool's volumes are managed: the first one that is up."""
    hosts = list(pool.hosts.order_by("name"))
    for host in hosts:
        if host.state == HostState.UP:
            return host
    if not hosts:
        raise Conflict(f"Pool {pool.name} is on no host.")
    return hosts[0]


def volume_host(volume):
    return volume.instance.host if volume.instance_id and volume.instance.host_id else manager_host(volume.pool)


def instance_running(instance):
    return instance is not None and instance.state == InstanceState.ACTIVE
