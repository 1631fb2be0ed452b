"""Storage pools (cloud admins): define, start, refresh, stop, delete; the capacity check
every volume creation and growth passes."""

from django.db import transaction

from portal.errors import ActionError, Conflict
from storage.choices import (
    BYTES_PER_GIB,
    Action,
    PoolState,
    Provisioning,
)
from storage.models import StoragePool
from storage.services.common import (
    check_staff,
    queue,
)
from storage.tasks import pools as tasks


def define_pool(user, *, hosts, request=None, **fields):
    """Define (or adopt, when it already exists) and start a pool on each of its hosts."""

    check_staff(user)
    if not hosts:
        raise ActionError("A pool is seen by at least one host.", field="hosts")
    pool = StoragePool(state=PoolState.DEFINING, **fields)
    pool.simulated = all(host.simulated for host in hosts)
    pool.full_clean()
    with transaction.atomic():
        pool.save()
        pool.hosts.set(hosts)
        op = queue(
            f"storagepool.{Action.DEFINE}",
            pool,
            user,
            tasks.pool_action,
            detail={"step": Action.DEFINE},
            request=request,
        )
    return pool, op


POOL_ACTIONS = (Action.START, Action.REFRESH, Action.STOP)


def pool_action(user, pool, action, request=None):
    check_staff(user)
    if action not in POOL_ACTIONS:
        raise ActionError(f"A pool action is one of {', '.join(POOL_ACTIONS)}.", field="action")
    if action == Action.STOP and pool.volumes.filter(instance__isnull=False).exists():
        raise Conflict(f"Pool {pool.name} has attached volumes; detach them before stopping it.")
    with transaction.atomic():
        return queue(f"storagepool.{action}", pool, user, tasks.pool_action, detail={"step": action}, request=request)


def delete_pool(user, pool, request=None):
    check_staff(user)
    if pool.volumes.exists():
        raise Conflict(f"Pool {pool.name} still holds {pool.volumes.count()} volume(s).")
    with transaction.atomic():
        StoragePool.objects.filter(pk=pool.pk).update(state=PoolState.DELETING)
        return queue(
            f"storagepool.{Action.DELETE}",
            pool,
            user,
            tasks.pool_action,
            detail={"step": Action.DELETE},
            request=request,
        )


def check_capacity(pool, size_gb, provisioning, exclude=None):
    """Thin overcommit limit and, for thick volumes, the free space. Call with the pool row
    locked (select_for_update) so two creations cannot both pass on the last gigabytes."""
    if pool.state != PoolState.ACTIVE:
        raise Conflict(f"Pool {pool.name} is {pool.state}, not active.")
    if not pool.capacity_bytes:
        raise Conflict(f"Pool {pool.name} reports no capacity yet; refresh it.")
    limit_gb = pool.capacity_gb * pool.overcommit_limit
    provisioned = pool.provisioned_gb(exclude=exclude)
    if provisioned + size_gb > limit_gb:
        raise ActionError(
            f"Pool {pool.name} would hold {provisioned + size_gb} GiB provisioned, over its limit of "
            f"{limit_gb:.0f} GiB ({pool.overcommit_limit:g} x capacity).",
            field="size_gb",
        )
    if provisioning == Provisioning.THICK and size_gb * BYTES_PER_GIB > pool.available_bytes:
        raise ActionError(
            f"Pool {pool.name} has {pool.available_bytes // BYTES_PER_GIB} GiB free; a thick volume "
            f"of {size_gb} GiB does not fit.",
            field="size_gb",
        )
