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
    netfs, rbd = pool.type == PoolType.NETFS, pool.type == PoolType.RBD
    return hv.PoolSpec(
        name=pool.libvirt_name,
        type=pool.type,
        target_path=pool.target_path or None,
        # A Ceph pool lists its monitors (comma-separated in source_host), each a <host> of its own.
        source_host=None if rbd else pool.source_host or None,
        source_hosts=tuple(m.strip() for m in pool.source_host.split(",") if m.strip()) if rbd else (),
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
        if action == Action.DELETE:  # a directory the portal made goes after every other host let go of it
            hosts.sort(key=lambda host: host.pk in pool.built_on)
        kept = []
        for index, host in enumerate(hosts, start=1):
            try:
                info = _pool_step(pool, host, action)
            except hv.HypervisorError as exc:
                if action == Action.DEFINE:  # shown on the pool, which stays deletable
                    reason = f"{host.name}: {exc}"[:500]
                    StoragePool.objects.filter(pk=pool.pk).update(state=PoolState.ERROR, state_reason=reason)
                raise
            if action == Action.DELETE and info is not None:
                kept.append(f"{host.name}: {info}")
            operations.progress(op, 100 * index // len(hosts), f"{action} on {host.name}")
        if action == Action.DELETE:
            pool.delete()
            return f"Pool {pool.name} deleted" + (f"; its directory stays on {'; '.join(kept)}" if kept else "")
        if action == Action.STOP:
            StoragePool.objects.filter(pk=pool.pk).update(state=PoolState.INACTIVE)
        elif info is not None:
            _record_pool(pool, info)
            if pool.type in LUN_POOL_TYPES and info.active:
                _record_luns(pool, hosts[-1])
        return f"Pool {pool.name}: {action} on {len(hosts)} host(s)"

    return run_operation(op_id, work, self.request.id or "")


def _start_dir(pool, host):
    """Start a dir pool; when its directory is missing (the start fails) build it, i.e. make it,
    and record that the portal made it there (``built_on``): the pool's delete removes it."""
    try:
        return hv.pool_start(host.uri, pool.libvirt_name)
    except hv.HypervisorError:
        info = hv.pool_start(host.uri, pool.libvirt_name, build=True)
    StoragePool.objects.filter(pk=pool.pk).update(built_on=sorted({*pool.built_on, host.pk}))
    pool.built_on = sorted({*pool.built_on, host.pk})
    return info


def _delete_on(pool, host):
    """Stop and undefine the pool on ``host``; a directory the portal made there is removed
    between the two (libvirt's virStoragePoolDelete, an rmdir: never a file in it). Returns why
    the directory stays when it does, else None."""
    name = pool.libvirt_name
    if pool.type != PoolType.DIR or host.pk not in pool.built_on:
        try:
            hv.pool_delete(host.uri, name)
        except hv.PoolNotFound:  # a define that failed there left nothing
            pass
        return None
    try:
        hv.pool_delete(host.uri, name, delete_data=True)
        return None
    except hv.PoolNotFound:
        return None
    except hv.HypervisorError as exc:  # not empty (files the portal did not make): undefine only
        hv.pool_delete(host.uri, name)
        return f"{pool.target_path} kept ({exc})"


def _define_on(pool, host):
    """Define (or adopt) and start the pool on ``host``. A pool this define made there and could
    not start is undefined again: libvirt keeps nothing of a failed define."""
    name = pool.libvirt_name
    try:
        info = hv.pool_info(host.uri, name)  # already there (e.g. a host's default pool): adopt it
        made = False
    except hv.PoolNotFound:
        info, made = hv.pool_define(host.uri, _pool_spec(pool, host)), True
    if info.active:
        return info
    try:
        if pool.type == PoolType.DIR and not host.simulated:
            return _start_dir(pool, host)
        return hv.pool_start(host.uri, name, build=not host.simulated)
    except hv.HypervisorError:
        if made:
            hv.pool_delete(host.uri, name)
        raise


def _pool_step(pool, host, action):
    name = pool.libvirt_name
    if action == Action.DEFINE:
        return _define_on(pool, host)
    if action == Action.START:
        return hv.pool_start(host.uri, name)
    if action == Action.REFRESH:
        return hv.pool_refresh(host.uri, name)
    if action == Action.STOP:
        hv.pool_stop(host.uri, name)
        return None
    return _delete_on(pool, host)
