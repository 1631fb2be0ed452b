"""Host power: a user's power action and a host's driver configuration. The power Operation's
work, standby and waking are the tasks' (scheduler/tasks/power.py)."""

from portal import audit
from portal.errors import ActionError
from scheduler import choices as c
from scheduler.models import PowerDriverConfig
from scheduler.tasks import power as power_tasks

POWER_ACTIONS = tuple(c.PowerAction.values)


def configure_power(user, host, *, kind, address="", port=None, username="", password=None, request=None):
    config = PowerDriverConfig.objects.filter(host=host).first() or PowerDriverConfig(host=host)
    config.kind, config.address, config.port, config.username = kind, address.strip(), port, username
    if password is not None:
        config.set_password(password)
    config.full_clean()
    config.save()
    audit.record(user, "scheduler.power_config", host, request=request, kind=kind)  # never the password
    return config


def request_power(user, host, action, *, reason="", request=None):
    """Queue a power action on a host as an Operation (one at a time per host)."""

    if action not in POWER_ACTIONS:
        raise ActionError(f"A power action is one of {', '.join(POWER_ACTIONS)}.", field="action")
    return power_tasks.queue_power(user, host, action, reason=reason, request=request)
