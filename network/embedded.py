"""The embedded default's own OVN Northbound: when neither the environment (NUBES_OVN_NB,
NUBES_NETWORK_BACKEND) nor the registered OVN deployment chooses a network control plane,
`runportal` (and `seed_demo` before it) serves an OVN_Northbound database with ovsdb-server as
a child process, on a database file and unix socket under the data directory. Networks,
routers, security groups, floating IPs and load balancers are then real rows in a real NB,
but nothing reads them (no ovn-northd, no chassis): logical configuration only, no data plane,
and the UI and API say so. Without ovsdb-server or the NB schema (Debian's ovn-central, which
`make run` installs when run as root) the portal falls back to the libvirt backend and says why."""

import logging

from django.conf import settings

from network import conf as net_settings
from network.ovn import client
from network.ovn.local_server import NbServer, ServerUnavailable, missing_tools

log = logging.getLogger(__name__)
INSTALL_HINT = "install Debian's ovn-central (`sudo apt-get install -y ovn-central`, or `make run` as root)"

# Why the embedded Northbound is not served although it was wanted ('' = served or not wanted).
unavailable = ""


def directory():
    return settings.DATA_DIR / "ovn-nb"


def start(stdout):
    """portal.embedded starter: the NB server, or None (configured elsewhere, or unavailable)."""
    global unavailable
    if net_settings.nb_configured():
        return None
    server = NbServer(directory(), parent_death=True)
    try:
        reason = missing_tools()
        if reason:
            raise ServerUnavailable(reason)
        server.start()
    except (ServerUnavailable, OSError) as exc:
        unavailable = f"{exc}; {INSTALL_HINT}"
        log.warning("No embedded OVN Northbound (%s): networks fall back to the libvirt backend.", unavailable)
        stdout.write(f"No embedded OVN Northbound ({unavailable}): networks use the libvirt backend (no routers).")
        return None
    unavailable = ""
    net_settings.use_embedded_nb(server.endpoint)
    pid = server.pid
    stdout.write(f"{net_settings.EMBEDDED_NOTE}: ovsdb-server pid {pid} on {server.endpoint}")

    def stop():
        net_settings.use_embedded_nb("")
        client.close_all()
        server.stop()
        stdout.write(f"OVN Northbound embedded: ovsdb-server pid {pid} stopped.")

    return stop
