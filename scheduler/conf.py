"""The scheduler's settings, read from Django settings when set there, else the environment.

NUBES_POWER_DRIVERS maps a driver kind to the dotted path of its class
("kind=package.module.Class,..." in the environment), so a site can plug its own driver.
"""

from django.conf import settings

from portal.env import env_float, env_int, env_list, env_str

DEFAULT_POWER_DRIVERS = {
    "simulated": "scheduler.power.simulated.SimulatedDriver",
    "ipmi": "scheduler.power.ipmi.IpmiDriver",
    "redfish": "scheduler.power.redfish.RedfishDriver",
    "wol": "scheduler.power.wol.WakeOnLanDriver",
}
WOL_PORT = 9  # the discard port, Wake-on-LAN's customary target


def _get(name, read):
    return getattr(settings, name) if hasattr(settings, name) else read()


def power_drivers():
    def read():
        drivers = dict(DEFAULT_POWER_DRIVERS)
        for item in env_list("NUBES_POWER_DRIVERS"):
            kind, _, path = item.partition("=")
            drivers[kind.strip()] = path.strip()
        return drivers

    return _get("NUBES_POWER_DRIVERS", read)


def power_timeout_s():
    return _get("NUBES_POWER_TIMEOUT", lambda: env_float("NUBES_POWER_TIMEOUT", 10.0, 0.1))


def wol_broadcast():
    return _get("NUBES_WOL_BROADCAST", lambda: env_str("NUBES_WOL_BROADCAST", "255.255.255.255"))


def wol_port():
    return _get("NUBES_WOL_PORT", lambda: env_int("NUBES_WOL_PORT", WOL_PORT, 1, 65535))


def heartbeat_interval_s():
    return _get("NUBES_HA_HEARTBEAT_INTERVAL", lambda: env_int("NUBES_HA_HEARTBEAT_INTERVAL", 10, 1))


def ha_probe_timeout_s():
    return _get("NUBES_HA_PROBE_TIMEOUT", lambda: env_float("NUBES_HA_PROBE_TIMEOUT", 5.0, 0.1))


def dpm_interval_s():
    return _get("NUBES_DPM_INTERVAL", lambda: env_int("NUBES_DPM_INTERVAL", 600, 10))


def dpm_wake_hold_s():
    """How long a woken host is kept on before DPM may put it back in standby."""
    return _get("NUBES_DPM_WAKE_HOLD", lambda: env_int("NUBES_DPM_WAKE_HOLD", 1200, 0))


def dpm_wake_timeout_s():
    """How long a request waits for a standby host woken for it (wake-on-demand)."""
    return _get("NUBES_DPM_WAKE_TIMEOUT", lambda: env_float("NUBES_DPM_WAKE_TIMEOUT", 600.0, 1.0))


def dpm_wake_poll_s():
    return _get("NUBES_DPM_WAKE_POLL", lambda: env_float("NUBES_DPM_WAKE_POLL", 2.0, 0.01))


def drs_tick_s():
    """How often beat looks for clusters whose DRS interval has passed."""
    return _get("NUBES_DRS_TICK", lambda: env_int("NUBES_DRS_TICK", 60, 5))


def finalize_interval_s():
    """Fallback sweep for approved recommendations whose operations finished."""
    return _get("NUBES_RECOMMENDATION_SWEEP", lambda: env_int("NUBES_RECOMMENDATION_SWEEP", 30, 5))


def ipmi_cipher_suite():
    """RMCP+ cipher suite; 3 (HMAC-SHA1, AES-128) is near universal, and naming one skips
    ipmitool's cipher-suite discovery, which some BMCs answer slowly or not at all."""
    return _get("NUBES_IPMI_CIPHER_SUITE", lambda: env_int("NUBES_IPMI_CIPHER_SUITE", 3, 0, 255))


def vm_heartbeat_interval_s():
    """How often VM-level HA pings each protected guest's QEMU guest agent."""
    return _get("NUBES_HA_VM_HEARTBEAT_INTERVAL", lambda: env_int("NUBES_HA_VM_HEARTBEAT_INTERVAL", 30, 1))


def vm_heartbeat_misses():
    """Missed guest-agent pings in a row, while the domain runs, before HA resets the guest."""
    return _get("NUBES_HA_VM_HEARTBEAT_MISSES", lambda: env_int("NUBES_HA_VM_HEARTBEAT_MISSES", 4, 1))


def vm_heartbeat_timeout_s():
    return _get("NUBES_HA_VM_HEARTBEAT_TIMEOUT", lambda: env_int("NUBES_HA_VM_HEARTBEAT_TIMEOUT", 5, 1))
