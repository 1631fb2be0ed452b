"""What beat starts on compute's behalf, as a user would: the balloon policy's run, whose changes
are system set_balloon actions through the instance service (one at a time, checked, with an
InstanceEvent). The task name keeps compute.overcommit_tasks.balloon_policy."""

from celery import shared_task

import hypervisor as hv
from compute.choices import HostState
from compute.models import Host, Instance
from compute.services import instances as services
from compute.tasks.overcommit import changes_on, policy_from_env
from portal import operations
from portal.errors import Conflict


@shared_task(name="compute.overcommit_tasks.balloon_policy")
def balloon_policy():
    """One pass over every up host; returns {host: number of balloon changes queued}."""
    policy = policy_from_env()
    done = {}
    for host in Host.objects.filter(state=HostState.UP):
        try:
            done[host.name] = len(apply(changes_on(host, policy)))
        except hv.HostUnreachable:
            done[host.name] = "unreachable"
    return done


def apply(changes):
    """Queue each change as a system set_balloon; an instance busy with another action is skipped
    (the next run sees it again). Returns the Operations started."""
    started = []
    instances = Instance.objects.select_related("project", "host").in_bulk([c.instance_id for c in changes])
    for change in changes:
        try:
            started.append(
                services.policy_balloon(instances[change.instance_id], change.memory_mb, change.policy, change.reason)
            )
        except (operations.TargetBusy, Conflict):
            continue
    return started
