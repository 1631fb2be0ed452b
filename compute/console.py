"""The graphical console's ticket: a short-lived token, signed with SECRET_KEY, that lets one
user open one instance's VNC proxy (/ws/vnc/<id>/?token=...) on the portal's own origin.

QEMU's VNC server listens on the host's own address, the one in its libvirt URI (the loopback for
qemu:///system), with a per-instance password in the domain XML; the port is the live one libvirt
assigned, recorded on the instance by the tasks (``vnc_port``). The proxy (compute.consumers)
connects there and authenticates with that password (compute.rfb); the browser gets security
type None from the proxy and never sees the password. A migration moves the address with the
domain (hypervisor.migration rewrites it in the target's definition). With a VNC CA configured
(tls_context) that hop runs inside TLS (VeNCrypt) and a host without it is refused.
"""

import ssl
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core import signing

from compute.choices import InstanceState
from portal.choices import Role
from portal.errors import Conflict, NotPermitted

TOKEN_SALT = "nubes.compute.vnc"
TOKEN_MAX_AGE_S = 60
LOOPBACK = "127.0.0.1"  # where VNC listens on a host reached by a local URI (qemu:///system)
VNC_PASSWORD_MAX = 8
NOVNC_MODULE = "vendor/novnc/core/rfb.js"  # noVNC from npm (static/package.json), served by settings.NOVNC_DIR
SIMULATED_REFUSAL = (
    "This instance runs on a simulated host (libvirt's test driver): there is no guest, "
    "so there is no graphical console."
)
READER_REFUSAL = "Readers cannot open the graphical console (it controls the guest)."
NO_CLIENT_NOTE = (
    "The noVNC client is not installed on this portal: `make static-deps` installs it with npm "
    "(Node.js); restart the portal afterwards."
)
# What the instance page's graphical console panel shows (data-vnc-state; the browser adds
# connecting / connected / disconnected / failed).
PANEL_READY, PANEL_REFUSED, PANEL_NO_CLIENT, PANEL_READER = "ready", "refused", "no-client", "reader"


class ConsoleRefused(Conflict):
    """The instance has no graphical console the proxy can reach; the message says why."""


def refusal(instance):
    """Why the proxy cannot reach this instance's VNC server, or None when it can."""
    host = instance.host
    if host is None or host.simulated:
        return SIMULATED_REFUSAL
    if instance.state != InstanceState.ACTIVE or not instance.vnc_port:
        return f"Instance {instance.name} is {instance.get_state_display().lower()}; its graphical console opens while it runs."
    return None


def listen_address(host):
    """Where QEMU's VNC server listens on ``host`` and the proxy connects: the host's address
    in its libvirt URI (qemu+tcp://10.99.0.2/system -> 10.99.0.2), the loopback for a local URI."""
    return urlsplit(host.uri).hostname or LOOPBACK


def client_installed():
    """True when the noVNC client is among the static files (`make static-deps` installs it with npm)."""
    return finders.find(NOVNC_MODULE) is not None


def may_open(user, instance):
    return user.is_staff or instance.project.role_of(user) in (Role.ADMIN, Role.MEMBER)


def panel(user, instance):
    """(state, message) of the instance page's graphical console panel; reads the database only."""
    reason = refusal(instance)
    if reason:
        return PANEL_REFUSED, reason
    return access(user, instance)


def access(user, instance):
    """(state, message) of the panel once the instance's own state allows a console: what the
    page shows when a live update clears the refusal (ready, no-client or reader)."""
    if not client_installed():
        return PANEL_NO_CLIENT, NO_CLIENT_NOTE
    if not may_open(user, instance):
        return PANEL_READER, READER_REFUSAL
    return PANEL_READY, ""


def issue(user, instance):
    """A token for ``user`` and ``instance``, plus what the browser needs; ConsoleRefused if unreachable."""
    if not may_open(user, instance):
        raise NotPermitted(READER_REFUSAL)
    reason = refusal(instance)
    if reason:
        raise ConsoleRefused(reason)
    token = signing.dumps({"u": user.pk, "i": instance.pk}, salt=TOKEN_SALT, compress=True)
    return {"token": token, "url": f"/ws/vnc/{instance.pk}/?token={token}", "expires_in": TOKEN_MAX_AGE_S}


def vnc_password(instance):
    """The password as QEMU holds it (VNC uses the first 8 characters)."""
    return (instance.vnc_password() or "")[:VNC_PASSWORD_MAX]


def check(token, user_pk, instance_pk, max_age=TOKEN_MAX_AGE_S):
    """True when ``token`` is a fresh one for this user and instance."""
    try:
        claims = signing.loads(token, salt=TOKEN_SALT, max_age=max_age)
    except signing.BadSignature:  # SignatureExpired is a BadSignature
        return False
    return claims == {"u": user_pk, "i": instance_pk}


def tls_context():
    """The ssl.SSLContext the proxy speaks VeNCrypt with (NUBES_VNC_TLS_CA, _CERT, _KEY), or
    None when no VNC CA is configured (plain VNC Authentication)."""
    ca = settings.NUBES_VNC_TLS_CA
    if not ca:
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    if settings.NUBES_VNC_TLS_CERT:
        context.load_cert_chain(settings.NUBES_VNC_TLS_CERT, settings.NUBES_VNC_TLS_KEY or None)
    return context
