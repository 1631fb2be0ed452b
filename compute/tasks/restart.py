"""HA's restart of a fenced host's instance on another host (compute.services.migration.restart_on):
define it there from the database and start it, never calling the (powered-off) source."""

import logging

from celery import shared_task

import hypervisor as hv
from compute import hooks
from compute.choices import BYTES_PER_GIB, EventSource, InstanceState
from compute.domain import record_event
from compute.models import Host, Instance
from compute.tasks import instances as compute_tasks
from compute.tasks.migration import RUNNING_STATES, probe
from portal import operations
from portal.errors import ActionError
from portal.tasks import run_operation

log = logging.getLogger(__name__)


@shared_task(bind=True, name="compute.migration_tasks.restart_instance")
def restart_instance(self, op_id):
    return run_operation(op_id, restart, self.request.id or "")


def _root_on(target, instance):
    """The root volume as the target sees it: a shared pool's, or on a simulated host a stand-in
    (the test driver shares nothing between hosts). ActionError when the target cannot see it."""
    # The root disk's active file: the top of its chain when storage keeps one (external snapshots).
    pool, name = hooks.root_disk_files(instance, ((instance.image.pool, instance.root_volume),))[0]
    try:
        if not target.simulated:
            hv.pool_refresh(target.uri, pool)  # a dir pool lists files made by other hosts after a refresh
        return hv.volume_info(target.uri, pool, name)
    except (hv.VolumeNotFound, hv.PoolNotFound) as exc:
        if not target.simulated:
            raise ActionError(
                f"The root disk {name} of {instance.name} is not on storage {target.name} sees "
                f"(pool {pool}): it cannot restart there. {exc}"
            ) from exc
    return hv.volume_create(target.uri, pool, name, instance.disk_gb * BYTES_PER_GIB, "qcow2")


def restart(op):
    """Define the instance on the target from the database and start it; the (fenced) source is
    never called. Idempotent: a domain already running on the target is only recorded."""
    instance = Instance.objects.select_related(*compute_tasks.INSTANCE_RELATED).get(pk=op.target_id)
    target = Host.objects.select_related("cluster").get(pk=op.detail["target"])
    source_name, uuid = instance.host.name, str(instance.uuid)
    operations.progress(op, 20, f"Finding the root disk on {target.name}")
    root = _root_on(target, instance)
    instance.host = target
    compute_tasks._prepare(instance)  # serial log and CPU pinning belong to the new host
    operations.progress(op, 50, f"Defining {instance.name} on {target.name}")
    defined = False
    try:
        compute_tasks._define(instance, root.path)
        defined = True
        if probe(target, uuid) not in RUNNING_STATES:
            operations.progress(op, 70, "Starting")
            hv.domain_start(target.uri, uuid)
    except hv.HypervisorError as exc:
        if defined:
            _undefine_quietly(target, uuid)
        instance.refresh_from_db()
        compute_tasks.set_state(instance, InstanceState.ERROR, reason=f"HA restart on {target.name} failed: {exc}")
        raise ActionError(f"Restarting {instance.name} on {target.name} failed: {exc}") from exc
    Instance.objects.filter(pk=instance.pk).update(host=target)
    compute_tasks.sync_power(instance, f"Restarted by HA on {target.name} ({source_name} was fenced)")
    record_event(instance, EventSource.ACTION, "ha restart done", f"running on {target.name}", op)
    return f"{instance.name} restarted on {target.name} ({source_name} fenced)"


def _undefine_quietly(host, uuid):
    try:
        hv.domain_undefine(host.uri, uuid)
    except hv.HypervisorError as exc:
        log.warning("could not undefine the half-restarted %s on %s: %s", uuid, host, exc)
