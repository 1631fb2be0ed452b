"""Host power: the power Operation's work (drivers, standby and waking), wake-on-demand for a
request, and queueing a power action. `services/power.py` checks a user's request and calls
`queue_power`; DPM's approved recommendations (recommendations.py) and HA's fencing
(failover.py) use the steps here. The hypervisor is called for liveness probes only."""

import time

from celery import shared_task
from django.db import transaction
from django.utils import timezone

import hypervisor as hv
from compute.choices import PLACED_STATES, HostState
from compute.models import Host, Instance
from compute.services import instances as compute_services
from portal import audit, operations
from portal.audit import actor
from portal.choices import FINAL_STATUSES, OperationStatus
from portal.errors import ActionError, Conflict
from portal.tasks import run_operation
from scheduler import choices as c
from scheduler import conf
from scheduler.models import HostPower, PowerDriverConfig
from scheduler.power import Credentials, PowerError, PowerStatus, driver_for

POWER_OP_PREFIX = "host."
WAKING_ACTIONS = (c.PowerAction.WAKE, c.PowerAction.ON)
WAKE_PROGRESS = 5  # % of the request's Operation: waking comes before its own work


def probe(host):
    """(alive, error): does the host's libvirt answer? One attempt: the beat is the retry."""
    try:
        hv.host_ping(host.uri)
    except hv.HypervisorError as exc:
        return False, str(exc)
    return True, ""


def reachable(host):
    return probe(host)[0]


def _power_work(op):
    host = Host.objects.select_related("cluster").get(pk=op.target_id)
    return do_power(host, op.detail["action"], reachable=reachable)


@shared_task(bind=True, name="scheduler.tasks.power_host")
def power_host(self, op_id):
    return run_operation(op_id, _power_work, self.request.id or "")


def wake_for_request(host, op):
    """compute's host waker (wake-on-demand): wake a standby host for the Operation `op` and
    return once it is up, or raise ActionError naming the host and what happened.

    The power Operation is DPM's own (audit, events), run here rather than queued so a busy
    worker pool cannot leave this task waiting on it; one already active on the host is
    waited for instead. The wait is bounded by NUBES_DPM_WAKE_TIMEOUT.
    """
    host.refresh_from_db()
    if host.state == HostState.UP:
        return
    reason = f"wake-on-demand for {op.kind} {op.target_name} (operation {op.pk})"
    try:
        power_op = begin_power(None, host, c.PowerAction.WAKE, reason=reason)
    except operations.TargetBusy as busy:
        power_op = busy.running
        if power_op.detail.get("action") not in WAKING_ACTIONS:
            raise ActionError(f"Host {host.name} cannot be woken now: {busy}") from busy
    operations.progress(op, WAKE_PROGRESS, f"Waking host {host.name} for this request (operation {power_op.pk})")
    run_operation(power_op.pk, _power_work, op.task_id)
    _wait_until_up(host, power_op)
    operations.progress(op, WAKE_PROGRESS, f"Host {host.name} is up")


def _wait_until_up(host, power_op):
    deadline = time.monotonic() + conf.dpm_wake_timeout_s()
    while True:
        host.refresh_from_db()
        if host.state == HostState.UP:
            return
        power_op.refresh_from_db()
        if power_op.status in FINAL_STATUSES and power_op.status != OperationStatus.SUCCEEDED:
            raise ActionError(f"Waking host {host.name} failed: {power_op.message or power_op.status}.")
        if power_op.status == OperationStatus.SUCCEEDED and reachable(host):
            mark_awake(host)
            continue
        if time.monotonic() >= deadline:
            raise ActionError(
                f"Host {host.name} was woken but did not come up within "
                f"{conf.dpm_wake_timeout_s():g} s (it is {host.state}; power {power_op.status})."
            )
        time.sleep(conf.dpm_wake_poll_s())


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


def host_power(host):
    power, _ = HostPower.objects.get_or_create(host=host)
    return power


def queue_power(user, host, action, *, reason="", request=None):
    """Queue a power action on a host as an Operation (one at a time per host): a user's request
    (services.power.request_power) or an approved DPM recommendation."""
    if action in (c.PowerAction.OFF, c.PowerAction.STANDBY):
        left = Instance.objects.filter(host=host, state__in=PLACED_STATES).count()
        if left:
            raise Conflict(f"Host {host.name} still holds {left} instance(s); evacuate it first.")
    with transaction.atomic():
        op = begin_power(user, host, action, reason=reason, request=request)
        operations.send_after_commit(power_host, op)
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
