"""compute's start-up checks (`manage.py check`): hosts that only work when everything runs on
one machine."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Warning
from django.db import DatabaseError

import hypervisor as hv
from compute.models import Host

LOCAL_HOST_BROKER = "nubes.W003"
IN_PROCESS_BROKER = "memory://"


def is_local_uri(uri):
    """A real host's URI that means 'the libvirtd of whichever machine opens it' (qemu:///system):
    hypervisor.is_local, less simulated hosts (no libvirtd) and URIs the gateway refuses."""
    try:
        return hv.is_local(uri) and not hv.is_simulated(uri)
    except hv.InvalidConfig:
        return False


def local_hosts_with_network_broker(app_configs, **kwargs):
    """A host registered as qemu:///system while Celery uses a network broker: the workers
    (and web processes) that reach it may run on other machines, each opening its own libvirtd."""
    broker = settings.CELERY_BROKER_URL or ""
    if broker.startswith(IN_PROCESS_BROKER):
        return []

    try:
        hosts = [h for h in Host.objects.only("name", "uri").order_by("name") if is_local_uri(h.uri)]
    except DatabaseError:
        return []  # no database or tables yet (first migrate): nothing registered to judge
    scheme = urlsplit(broker).scheme or "a network"  # never print the broker's credentials
    return [
        Warning(
            f"Host {host.name} is registered as {host.uri}, a local URI, while Celery uses a {scheme}:// "
            "broker, so tasks may run on other machines. Each process opens the libvirtd of its own "
            "machine by that URI: builds, actions, migrations, cloud-init seeds, the reconciler and "
            "metrics run by a worker elsewhere act on the wrong libvirtd (or fail), and the graphical "
            "console proxy on a web node connects to its own machine.",
            hint="Register the host by a network URI (qemu+tcp://, qemu+tls:// or qemu+ssh://host/system).",
            obj=host.name,
            id=LOCAL_HOST_BROKER,
        )
        for host in hosts
    ]
