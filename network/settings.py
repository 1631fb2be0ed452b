"""The network app's settings, read from the environment when asked (so a test or the bench
can point at its own Northbound server). Empty NUBES_OVN_NB means 'no OVN'."""
from portal.env import env_float, env_int, env_list, env_str

OVN_BACKEND = "network.backends.ovn.OvnBackend"
LIBVIRT_BACKEND = "network.backends.libvirt.LibvirtBackend"
ENCAP_TYPES = ("geneve", "vxlan")


def ovn_nb_endpoint() -> str:
    """e.g. tcp:127.0.0.1:6641 or unix:/run/ovn/ovnnb_db.sock; '' = no OVN."""
    return env_str("NUBES_OVN_NB", "").strip()


def ovn_timeout() -> float:
    return env_float("NUBES_OVN_TIMEOUT", 10.0, 0.1)


def backend_path() -> str:
    """The dotted path of the network backend: set explicitly, else OVN when an NB is set."""
    return env_str("NUBES_NETWORK_BACKEND", "") or (OVN_BACKEND if ovn_nb_endpoint() else LIBVIRT_BACKEND)


def overlay_type() -> str:
    value = env_str("NUBES_OVN_ENCAP", "geneve")
    if value not in ENCAP_TYPES:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"NUBES_OVN_ENCAP must be one of {', '.join(ENCAP_TYPES)}, not {value!r}")
    return value


def gateway_chassis() -> list[str]:
    """Chassis names that may host router gateway ports (SNAT, floating IPs), by priority."""
    return env_list("NUBES_OVN_GATEWAY_CHASSIS")


def sync_interval() -> int:
    return env_int("NUBES_NETWORK_SYNC_INTERVAL", 60, 5)
