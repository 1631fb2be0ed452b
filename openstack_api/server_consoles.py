"""Compute v2.1 remote consoles: POST /servers/{id}/remote-consoles (2.6+) and the older
os-getVNCConsole action answer the URL of the portal's own noVNC console, the graphical console
panel of the instance's page (it takes its one-minute ticket itself, for the signed-in user).
compute.console decides as for the page: readers 403, a server that is not running or runs on a
simulated host 409 with the reason."""

from django.urls import reverse

from compute import console
from openstack_api.base import OsError, body_of, link, reply
from openstack_api.compute import versioned
from openstack_api.servers import instance_of

PROTOCOLS = {"vnc": ("novnc",)}
NOT_YET = {"serial", "spice", "rdp", "mks"}


def console_url(request, instance):
    console.issue(request.user, instance)  # the page's checks (role, running, reachable); its ticket is the page's
    return link(request, reverse("compute:instance-detail", args=[instance.pk]) + "#vnc")


def _check_type(protocol, kind):
    if protocol in NOT_YET:
        raise OsError(501, f"Nubes does not implement {protocol} remote consoles yet (vnc with type novnc only).")
    if kind not in PROTOCOLS.get(protocol, ()):
        raise OsError(400, f"Unavailable console type {kind} for protocol {protocol}: Nubes offers vnc / novnc.")


@versioned
def remote_consoles(request, server_id):
    instance = instance_of(request, server_id)
    if request.os_version < (2, 6):
        raise OsError(404, "Remote consoles need microversion 2.6 or later (before it: os-getVNCConsole).")
    data = body_of(request, "remote_console")
    protocol, kind = data.get("protocol"), data.get("type")
    _check_type(protocol, kind)
    body = {"protocol": protocol, "type": kind, "url": console_url(request, instance)}
    return reply({"remote_console": body})


def vnc_console_action(request, instance, args):
    """The os-getVNCConsole action (before 2.6): {"console": {"type", "url"}}."""
    kind = args.get("type")
    _check_type("vnc", kind)
    return reply({"console": {"type": kind, "url": console_url(request, instance)}})
