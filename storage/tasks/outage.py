"""An array outage as the portal sees it. QEMU pauses a guest whose disk's storage fails a read or
write (error_policy stop); compute names the disks and tells storage (hooks.instance_io_error),
which marks the pools holding them in error. A beat task then asks the hosts every few seconds to
read those disks again; once every one answers, the pool is active again and the instances paused
on it are resumed (a system unpause), the failed requests retried by QEMU: nothing is lost."""

from celery import shared_task
from django.conf import settings
from django.utils import timezone

import hypervisor as hv
from compute.choices import IO_ERROR_PAUSE, InstanceState
from compute.models import Instance
from compute.services import instances as compute_services
from portal import operations
from portal.errors import ActionError
from storage.choices import LUN_POOL_TYPES, POOL_IO_ERROR, PoolState
from storage.models import StoragePool

CHECK_TASK = "storage.tasks.check_failed_pools"


def _volume_source(volume):
    """How the host names an attached volume: its file, or "pool/LUN" for an iSCSI pool's LUN."""
    if volume.is_raw_device and volume.pool.type in LUN_POOL_TYPES:
        return f"{volume.pool.libvirt_name}/{volume.device_path}"
    return volume.device_path if volume.is_raw_device else volume.path


def _holds(pool, source):
    if pool.target_path and source.startswith(pool.target_path.rstrip("/") + "/"):
        return True
    return source.startswith(f"{pool.libvirt_name}/")


def disks_of(instance):
    """{target dev: (pool, source)} of the instance's disks on pools: attached volumes from the
    database, the others (the root disk) from the domain its host runs."""
    found = {v.target_dev: (v.pool, _volume_source(v)) for v in instance.volumes.select_related("pool")}
    xml = hv.domain_xml(instance.host.uri, str(instance.uuid))
    pools = list(StoragePool.objects.filter(hosts=instance.host))
    for disk in hv.parse_domain_xml(xml).disks:
        pool = next((p for p in pools if disk.source and _holds(p, disk.source)), None)
        if disk.target_dev not in found and pool is not None:
            found[disk.target_dev] = (pool, disk.source)
    return found


def mark_pools(sender, instance, disks, **kwargs):
    """compute: ``instance`` paused on an I/O error of ``disks`` (all its disks when none is
    named). Their pools are in error until check_failed_pools finds them answering."""
    try:
        held = disks_of(instance)
    except hv.HypervisorError:
        return  # the host is gone too: the host's own failure handling takes over
    at = timezone.now().strftime("%H:%M:%S UTC")
    for dev in sorted(disks or held):
        if dev not in held:
            continue
        pool = held[dev][0]
        reason = (
            f"{POOL_IO_ERROR}: {instance.name}'s disk {dev} failed at {at} on {instance.host.name}; "
            f"checked every {settings.NUBES_POOL_CHECK_INTERVAL} s, its paused instances resume when it answers."
        )
        StoragePool.objects.filter(pk=pool.pk).exclude(state=PoolState.ERROR).update(
            state=PoolState.ERROR, state_reason=reason[:500]
        )


def paused_on(pool):
    paused = Instance.objects.select_related("host", "project").filter(
        host__in=pool.hosts.all(), state=InstanceState.PAUSED, state_reason__startswith=IO_ERROR_PAUSE
    )
    return [(i, [src for p, src in disks_of(i).values() if p.pk == pool.pk]) for i in paused]


def _probe(pool, paused):
    """Read every disk of the pool the paused instances use, on their hosts; with none left to
    read, ask each of the pool's hosts for the pool itself. Raises HypervisorError when any fails."""
    for instance, sources in paused:
        for source in sources:
            if source.startswith("/"):
                hv.volume_probe(instance.host.uri, source)
            else:  # a LUN: its volume info is libvirtd's memory; a transient pool asks the array
                hv.pool_probe(instance.host.uri, source.split("/", 1)[0])
    if not any(sources for _instance, sources in paused):
        for host in pool.hosts.all():
            hv.pool_info(host.uri, pool.libvirt_name)


@shared_task(name=CHECK_TASK)
def check_failed_pools():
    """Beat: bring back the pools an I/O error put in error once their storage answers."""
    back = []
    for pool in StoragePool.objects.filter(state=PoolState.ERROR, state_reason__startswith=POOL_IO_ERROR):
        try:
            paused = paused_on(pool)
            _probe(pool, paused)
        except hv.HypervisorError:
            continue  # still down: the next round asks again
        StoragePool.objects.filter(pk=pool.pk, state=PoolState.ERROR).update(
            state=PoolState.ACTIVE, state_reason="", refreshed=timezone.now()
        )
        resume_paused(pool, paused)
        back.append(pool.name)
    return back


def resume_paused(pool, paused):
    """Unpause (a system action each) the instances QEMU paused on the pool's I/O error."""
    for instance, _sources_used in paused:
        try:
            compute_services.resume_after_io_error(instance, f"storage pool {pool.name} answers again")
        except (ActionError, operations.TargetBusy):
            pass  # an action on it runs now; the admin or that action decides
