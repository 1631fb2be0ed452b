"""What storage registers when Django starts (StorageConfig.ready imports this module once the
app registry is loaded, so it may import models at the top): websocket groups, quota
counters, compute's hooks, teardown and its lab registration step."""

from django.conf import settings

from compute import hooks
from portal import lab as portal_lab
from portal import leases, quotas, realtime
from portal.celery import app
from storage import lab, teardown
from storage.choices import Action, PoolState, VolumeState
from storage.instance_chains import hand_over, root_disk_info
from storage.models import RootDisk, Snapshot, StoragePool, Volume
from storage.tasks import migration as migration_tasks
from storage.tasks import outage, reachability
from storage.tasks import stream as stream_tasks
from storage.tasks import volumes as volume_tasks
from storage.tasks.volumes import disk_spec
from storage.views.panels import instance_volumes_panel


def ready():
    realtime.register("storage.volume", lambda user: Volume.objects.visible_to(user))
    realtime.register("storage.snapshot", lambda user: Snapshot.objects.visible_to(user))
    realtime.register("storage.storagepool", lambda user: StoragePool.objects.all())
    quotas.register_counter("volumes", lambda project: Volume.objects.filter(project=project, quota_held=True).count())
    hooks.register_disks(attached_disks)
    hooks.register_root_disk(root_disk_info)  # where the root disk is now: the top of its chain
    hooks.register_pool_choices(pool_choices)
    hooks.register_pool_sharing(pool_shared)
    hooks.register_image_users(linked_clones_of)
    hooks.register_instance_panel(instance_volumes_panel)
    hooks.root_disk_replaced.connect(forget_root_disk, dispatch_uid="storage-forget-root-disk")
    hooks.instance_removed.connect(release_volumes, dispatch_uid="storage-release-volumes")
    hooks.instance_migrated.connect(migration_tasks.follow_migration, dispatch_uid="storage-follow-migration")
    hooks.instance_io_error.connect(outage.mark_pools, dispatch_uid="storage-mark-pools")
    app.conf.beat_schedule = {
        **(app.conf.beat_schedule or {}),
        "storage-check-failed-pools": {
            "task": outage.CHECK_TASK,
            "schedule": float(settings.NUBES_POOL_CHECK_INTERVAL),
        },
        "storage-probe-lun-pools": {
            "task": reachability.PROBE_TASK,
            "schedule": float(settings.NUBES_POOL_PROBE_INTERVAL),
        },
    }
    quotas.register_counter(
        "snapshots", lambda project: Snapshot.objects.filter(project=project, quota_held=True).count()
    )
    teardown.register()  # what a project purge removes: volumes, then snapshots
    leases.register(f"volume.{Action.UPLOAD}", settle=stream_tasks.settle_lost_upload)  # its web process died
    leases.register(f"volume.{Action.DOWNLOAD}", settle=stream_tasks.settle_lost_download)  # its web process died
    leases.register(f"volume.{Action.MIGRATE}", settle=volume_tasks.settle_lost_move)  # its worker died mid-copy
    portal_lab.register_step(lab.LAB_ORDER, lab.register)


def forget_root_disk(sender, instance, **kwargs):
    """compute made a new root volume (rebuild): the chain storage kept is gone with the old one."""
    RootDisk.objects.filter(instance=instance).delete()


def attached_disks(instance):
    """Attached volumes stay in the domain whenever compute redefines it (resize, rebuild)."""
    return [disk_spec(volume, volume.target_dev) for volume in instance.volumes.order_by("target_dev")]


def release_volumes(sender, instance, **kwargs):
    """An instance's volumes outlive it: once its domain is gone they are available again."""
    hand_over(instance)
    Volume.objects.filter(instance=instance).update(instance=None, target_dev="", state=VolumeState.AVAILABLE)


def pool_shared(pool, host, other):
    """One pool of that libvirt name seen by both hosts (compute's simulated shared storage)."""
    return StoragePool.objects.filter(libvirt_name=pool, hosts=host).filter(hosts=other).exists()


def linked_clones_of(image):
    """Volumes whose chain rests on the image's volume (made from it as a linked clone): their
    backing file, or the one under their oldest snapshot, is that volume's file."""
    suffix = "/" + image.volume
    names = []
    for volume in Volume.objects.filter(source_image=image).exclude(state=VolumeState.DELETING):
        backings = [volume.backing_path]
        backings += [snap.layer_backing for snap in volume.snapshots.all()]
        backings += [layer.layer_backing for layer in volume.instance_layers.all()]
        if any(path.endswith(suffix) for path in backings if path):
            names.append(f"volume {volume.name} (a linked clone)")
    return names


def pool_choices(hosts):
    """{host pk: the active pools it reaches} for compute's migrate form (copy-storage target
    pool), by name, for all the hosts in one query."""
    rows = (
        StoragePool.hosts.through.objects.filter(host__in=hosts, storagepool__state=PoolState.ACTIVE)
        .order_by("storagepool__name", "storagepool_id")
        .values_list("host_id", "storagepool__name", "storagepool__libvirt_name")
    )
    found = {}
    for host_id, name, libvirt_name in rows:
        found.setdefault(host_id, []).append(
            (libvirt_name, name if name == libvirt_name else f"{name} ({libvirt_name})")
        )
    return found
