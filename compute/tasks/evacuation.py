"""The evacuation's wake task: wake the standby hosts an evacuation needs (DPM's wake path), then
start its waiting migrations. Both go through compute.hooks: the scheduler registers the waker,
compute's evacuation service the verb that starts the migrations."""

from celery import shared_task

from compute import hooks
from compute.models import Host, Migration, MigrationState
from compute.tasks.migration import close
from portal.errors import ActionError
from portal.tasks import run_operation


@shared_task(bind=True, name="compute.migration_tasks.wake_for_evacuation")
def wake_for_evacuation(self, op_id):
    return run_operation(op_id, wake_then_evacuate, self.request.id or "")


def wake_then_evacuate(op):
    """Wake the standby hosts an evacuation needs, then start its migrations. The migrations
    meant for a host that did not wake fail with the reason (the instances stay put); the
    others go ahead, and the Operation fails naming the host."""
    host = Host.objects.get(pk=op.target_id)
    woken, failed = [], []
    for wake in op.detail["wakes"]:
        target = Host.objects.get(pk=wake["host"])
        try:
            hooks.wake_host(target, op)
        except ActionError as exc:
            failed.append(str(exc))
            fail_waiting(host, wake["instances"], f"{exc} No other host could take the instance.")
            continue
        woken.append(target.name)
    started = hooks.advance_evacuation(host, user=op.requester)  # through the evacuation service's verb
    if failed:
        raise ActionError(f"{' '.join(failed)} {len(started)} migration(s) off {host.name} started.")
    return f"Woke {', '.join(woken)}; {len(started)} migration(s) off {host.name} started"


def fail_waiting(host, instance_pks, error):
    """Close the waiting migrations of these instances off ``host`` as failed, with why."""
    for migration in Migration.objects.filter(
        evacuating=host, state=MigrationState.WAITING, instance_id__in=instance_pks
    ):
        close(migration, MigrationState.FAILED, error)
