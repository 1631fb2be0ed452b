"""The network app's settings, read when asked (so a test or the bench can point at its own
Northbound server). Each OVN setting comes from its NUBES_OVN_* environment variable when that
is set (the environment wins), else from the OVN deployment registered in the portal
(network.models.OvnDeployment, filled by `make lab` or the staff page), else the embedded
default's own Northbound when this process serves one (network/embedded.py). An empty
Northbound endpoint means 'no OVN'."""

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from network.models import OvnDeployment
from network.models.deployment import DEPLOYMENT_PK
from portal.env import env_float, env_int, env_str

OVN_BACKEND = "network.backends.ovn.OvnBackend"
LIBVIRT_BACKEND = "network.backends.libvirt.LibvirtBackend"
ENCAP_TYPES = ("geneve", "vxlan")
DEFAULT_ENCAP = "geneve"
OVN_VARIABLES = ("NUBES_OVN_NB", "NUBES_OVN_SB", "NUBES_OVN_ENCAP", "NUBES_OVN_GATEWAY_CHASSIS")
EMBEDDED_NOTE = "OVN Northbound embedded: logical config only, no data plane"

# The embedded default's Northbound while this process serves it (network/embedded.py sets it).
_embedded_nb = ""


def deployment():
    """The registered OVN deployment, or None (none saved, or the table is not migrated yet)."""

    try:
        return OvnDeployment.objects.filter(pk=DEPLOYMENT_PK).first()
    except DatabaseError:
        return None


def _setting(variable, field, default=""):
    value = env_str(variable)
    if value is not None:
        return value
    registered = deployment()
    return getattr(registered, field) if registered is not None else default


def source(variable):
    """'environment' or 'portal': where a NUBES_OVN_* setting is read from now."""
    return "environment" if env_str(variable) is not None else "portal"


def ovn_nb_endpoint() -> str:
    """e.g. tcp:127.0.0.1:6641 or unix:/run/ovn/ovnnb_db.sock; '' = no OVN."""
    configured = _setting("NUBES_OVN_NB", "nb_connection").strip()
    if configured or env_str("NUBES_OVN_NB") is not None:
        return configured
    return _embedded_nb


def nb_configured() -> bool:
    """Whether an OVN Northbound (or a backend) is chosen by the environment or the registered
    deployment; if not, the embedded default serves its own (network/embedded.py)."""
    if env_str("NUBES_NETWORK_BACKEND", "") or env_str("NUBES_OVN_NB") is not None:
        return True
    registered = deployment()
    return registered is not None and bool(registered.nb_connection.strip())


def use_embedded_nb(endpoint: str) -> None:
    global _embedded_nb
    _embedded_nb = endpoint


def embedded_nb() -> bool:
    """True when the Northbound in use is the embedded default's own (logical config only)."""
    return bool(_embedded_nb) and env_str("NUBES_OVN_NB") is None and ovn_nb_endpoint() == _embedded_nb


def ovn_sb_endpoint() -> str:
    """The Southbound database (load balancer member status); '' = not known."""
    return _setting("NUBES_OVN_SB", "sb_connection").strip()


def ovn_timeout() -> float:
    return env_float("NUBES_OVN_TIMEOUT", 10.0, 0.1)


def backend_path() -> str:
    """The dotted path of the network backend: set explicitly, else OVN when an NB is set."""
    return env_str("NUBES_NETWORK_BACKEND", "") or (OVN_BACKEND if ovn_nb_endpoint() else LIBVIRT_BACKEND)


def overlay_type() -> str:
    value = _setting("NUBES_OVN_ENCAP", "encap_type", DEFAULT_ENCAP) or DEFAULT_ENCAP
    if value not in ENCAP_TYPES:
        raise ImproperlyConfigured(f"NUBES_OVN_ENCAP must be one of {', '.join(ENCAP_TYPES)}, not {value!r}")
    return value


def gateway_chassis() -> list[str]:
    """Chassis names that may host router gateway ports (SNAT, floating IPs), by priority."""
    return [
        name.strip() for name in _setting("NUBES_OVN_GATEWAY_CHASSIS", "gateway_chassis").split(",") if name.strip()
    ]


def sync_interval() -> int:
    return env_int("NUBES_NETWORK_SYNC_INTERVAL", 60, 5)


def port_status_interval() -> int:
    """How often beat reads the ports' up/down state from OVN, in seconds."""
    return env_int("NUBES_NETWORK_PORT_STATUS_INTERVAL", 10, 1)
