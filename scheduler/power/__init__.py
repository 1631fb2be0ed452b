"""Power drivers: switch hosts on and off for DPM, and fence them for HA.

A driver is a class behind one interface (`PowerDriver`), chosen per host by its kind and
loaded lazily from the dotted path NUBES_POWER_DRIVERS gives for that kind. Drivers take
plain `Credentials`, never model rows, and raise only `PowerError`.
"""

from dataclasses import dataclass

from django.utils.module_loading import import_string

from scheduler import conf


class PowerError(Exception):
    """The BMC could not be reached, refused, or answered something we cannot read."""


class PowerStatus:
    ON = "on"
    OFF = "off"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Credentials:
    host_key: str  # stable id of the host (simulated state is keyed by it)
    address: str = ""
    port: int | None = None
    username: str = ""
    password: str | None = None


class PowerDriver:
    can_power_off = True
    can_read_status = True

    def __init__(self, credentials: Credentials, timeout_s: float | None = None):
        self.credentials = credentials
        self.timeout_s = conf.power_timeout_s() if timeout_s is None else timeout_s

    def power_on(self) -> None:
        raise NotImplementedError

    def power_off(self) -> None:
        """A hard power-off: what fencing needs (no guest may keep writing shared disks)."""
        raise NotImplementedError

    def status(self) -> str:
        raise NotImplementedError


def driver_class(kind):
    paths = conf.power_drivers()
    if kind not in paths:
        raise PowerError(f"No power driver is configured for kind {kind!r}.")
    try:
        return import_string(paths[kind])
    except ImportError as exc:
        raise PowerError(f"The {kind} power driver {paths[kind]} cannot be loaded: {exc}") from exc


def driver_for(kind, credentials, timeout_s=None):
    return driver_class(kind)(credentials, timeout_s)
