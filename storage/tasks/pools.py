"""Celery task of storage's pools: define, start, refresh, stop or delete a pool on each of its
hosts, and record what libvirt reports."""

from celery import shared_task
from django.conf import settings
from django.utils import timezone

import hypervisor as hv
from portal import operations
from portal.tasks import run_operation
from storage.choices import LUN_POOL_TYPES, Action, PoolState, PoolType, SourceFormat
from storage.models import StoragePool


def _pool_spec(pool, host):
    netfs = pool.type == PoolType.NETFS
    return hv.PoolSpec(
        name=pool.libvirt_name,
        type=pool.type,
        target_path=pool.target_path or None,
        source_host=pool.source_host or None,
        source_dir=pool.source_dir or None,
        source_name=pool.source_name or None,
        source_devices=(pool.source_device,) if pool.source_device else (),
        source_format=(pool.source_format or SourceFormat.NFS) if netfs else None,
        # Each host logs in to the target under a name of its own (an iSCSI initiator IQN).
        initiator_iqn=initiator_iqn(host) if pool.type == PoolType.ISCSI_DIRECT else None,
    )


def initiator_iqn(host):
    return f"{settings.NUBES_ISCSI_INITIATOR_PREFIX}:{host.name.lower()}"


def _record_pool(pool, info, state=PoolState.ACTIVE):
    StoragePool.objects.filter(pk=pool.pk).update(
        state=state if info.active else PoolState.INACTIVE,
        state_reason="",
        capacity_bytes=info.capacity_bytes,
        allocation_bytes=info.allocation_bytes,
        available_bytes=info.available_bytes,
        refreshed=timezone.now(),
    )


def _record_luns(pool, host):
    """A LUN pool's volumes are the target's LUNs; the 0-byte one is the target's controller."""
    luns = [
        {"name": vol.name, "capacity_bytes": vol.capacity_bytes}
        for vol in hv.list_volumes(host.uri, pool.libvirt_name)
        if vol.capacity_bytes
    ]
    StoragePool.objects.filter(pk=pool.pk).update(luns=luns)


@shared_task(bind=True, name="storage.tasks.pool_action")
def pool_action(self, op_id):
    def work(op):
        pool = StoragePool.objects.get(pk=op.target_id)
        action, hosts, info = op.detail["step"], list(pool.hosts.order_by("name")), None
        for index, host in enumerate(hosts, start=1):
            info = _pool_step(pool, host, action)
            operations.progress(op, 100 * index // len(hosts), f"{action} on {host.name}")
        if action == Action.DELETE:
            pool.delete()
            return f"Pool {pool.name} deleted"
        if action == Action.STOP:
            StoragePool.objects.filter(pk=pool.pk).update(state=PoolState.INACTIVE)
        elif info is not None:
            _record_pool(pool, info)
            if pool.type in LUN_POOL_TYPES and info.active:
                _record_luns(pool, hosts[-1])
        return f"Pool {pool.name}: {action} on {len(hosts)} host(s)"

    return run_operation(op_id, work, self.request.id or "")


def _pool_step(pool, host, action):
    name = pool.libvirt_name
    if action == Action.DEFINE:
        try:
            info = hv.pool_info(host.uri, name)  # already there (e.g. a host's default pool): adopt it
        except hv.PoolNotFound:
            info = hv.pool_define(host.uri, _pool_spec(pool, host))
        return info if info.active else hv.pool_start(host.uri, name, build=not host.simulated)
    if action == Action.START:
        return hv.pool_start(host.uri, name)
    if action == Action.REFRESH:
        return hv.pool_refresh(host.uri, name)
    if action == Action.STOP:
        hv.pool_stop(host.uri, name)
        return None
    hv.pool_delete(host.uri, name)
    return None
