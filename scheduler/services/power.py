"""Host power: drivers and their configuration, power Operations, standby and waking."""

from django.db import transaction
from django.utils import timezone

from compute.choices import PLACED_STATES, HostState
from compute.models import Instance
from compute.services import instances as compute_services
from portal import audit, operations
from portal.errors import ActionError, Conflict
from scheduler import choices as c
from scheduler import tasks
from scheduler.models import HostPower, PowerDriverConfig
from scheduler.power import Credentials, PowerError, PowerStatus, driver_for
from scheduler.services.common import actor

POWER_OP_PREFIX = "host."


def power_driver(host):
    """(driver, config) for a host; a host without a config uses the simulated driver."""
    config = PowerDriverConfig.objects.filter(host=host).first() or PowerDriverConfig(host=host)
    credentials = Credentials(
        host_key=str(host.pk),
        address=config.address,
        port=config.port,
        username=config.username,
        password=config.password(),
    )
    return driver_for(config.kind, credentials), config


def configure_power(user, host, *, kind, address="", port=None, username="", password=None, request=None):
    config = PowerDriverConfig.objects.filter(host=host).first() or PowerDriverConfig(host=host)
    config.kind, config.address, config.port, config.username = kind, address.strip(), port, username
    if password is not None:
        config.set_password(password)
    config.full_clean()
    config.save()
    audit.record(user, "scheduler.power_config", host, request=request, kind=kind)  # never the password
    return config


def host_power(host):
    power, _ = HostPower.objects.get_or_create(host=host)
    return power


POWER_ACTIONS = tuple(c.PowerAction.values)


def request_power(user, host, action, *, reason="", request=None):
    """Queue a power action on a host as an Operation (one at a time per host)."""

    if action not in POWER_ACTIONS:
        raise ActionError(f"A power action is one of {', '.join(POWER_ACTIONS)}.", field="action")
    if action in (c.PowerAction.OFF, c.PowerAction.STANDBY):
        left = Instance.objects.filter(host=host, state__in=PLACED_STATES).count()
        if left:
            raise Conflict(f"Host {host.name} still holds {left} instance(s); evacuate it first.")
    with transaction.atomic():
        op = begin_power(user, host, action, reason=reason, request=request)
        operations.send_after_commit(tasks.power_host, op)
    return op


def begin_power(user, host, action, *, reason="", request=None):
    """The power Operation and its audit record, for the caller to run (TargetBusy while
    another power action is active on the host)."""
    op = operations.begin(
        f"{POWER_OP_PREFIX}{action}", host, user=actor(user), project=None, detail={"action": action, "reason": reason}
    )
    audit.record(user, f"scheduler.{action}", host, request=request, reason=reason)
    return op


def set_host_state(host, state, reason):
    return compute_services.set_host_state(None, host, state, reason)


def power_off(host, *, verify=True):
    """Hard power-off through the host's driver; with `verify`, read back that it is off."""
    driver, config = power_driver(host)
    if not driver.can_power_off:
        raise PowerError(f"the {config.kind} driver of {host.name} cannot power it off")
    driver.power_off()
    if verify and driver.can_read_status:
        status = driver.status()
        if status != PowerStatus.OFF:
            raise PowerError(f"{host.name} still reports power {status} after power-off")
    HostPower.objects.update_or_create(host=host, defaults={"power_state": c.PowerState.OFF, "last_error": ""})
    return config.kind


def do_power(host, action, reachable=None):
    """The work of a power Operation (called from the task). `reachable(host) -> bool`
    probes libvirt after a power-on; the task passes it so this module needs no gateway."""

    try:
        if action in (c.PowerAction.OFF, c.PowerAction.STANDBY, c.PowerAction.FENCE):
            if action == c.PowerAction.STANDBY:
                set_host_state(host, HostState.MAINTENANCE, "DPM: entering standby")
            try:
                kind = power_off(host)
            except PowerError:
                if action == c.PowerAction.STANDBY:
                    set_host_state(host, HostState.UP, "DPM: standby failed, host stays on")
                raise
            state = HostState.STANDBY if action == c.PowerAction.STANDBY else HostState.DOWN
            set_host_state(host, state, f"powered off through {kind} ({action})")
            return f"{host.name} powered off ({kind})"
        driver, config = power_driver(host)
        driver.power_on()
    except PowerError as exc:
        HostPower.objects.update_or_create(host=host, defaults={"last_error": str(exc)[:500]})
        raise ActionError(f"Power {action} of {host.name} failed: {exc}") from exc
    HostPower.objects.update_or_create(host=host, defaults={"power_state": c.PowerState.WAKING, "last_error": ""})
    if reachable is not None and reachable(host):
        mark_awake(host)
        return f"{host.name} powered on ({config.kind}) and up"
    return f"{host.name} powered on ({config.kind}); waiting for its hypervisor"


def mark_awake(host):
    # `woken` starts DPM's hold-down: the host is not put back in standby straight away.
    HostPower.objects.update_or_create(host=host, defaults={"power_state": c.PowerState.ON, "woken": timezone.now()})
    host.refresh_from_db()
    if host.state in (HostState.STANDBY, HostState.DOWN) and host.refreshed:
        set_host_state(host, HostState.UP, "powered on; hypervisor answers")
