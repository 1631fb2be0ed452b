"""Block Storage v3 (Cinder) over storage.services: volumes (empty, from an image or from a
snapshot; extend), snapshots of volumes, the pools as volume types, limits; and Nova's
os-volume_attachments (attach / detach)."""

import uuid

from django.db.models import Count

from compute.models import Image
from openstack_api.base import OsError, body_of, iso_micro, link, paginate, reply, require_write
from openstack_api.catalog import base_url
from portal import operations, quotas
from storage import services
from storage.choices import PoolState, SnapshotKind, SnapshotState, VolumeSource, VolumeState
from storage.models import Snapshot, StoragePool, Volume

MIN_VERSION = MAX_VERSION = "3.0"
ZONE = "nova"
BUSY_STATUS = {"volume.attach": "attaching", "volume.detach": "detaching", "volume.resize": "extending"}


def version_entry(request):
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": MAX_VERSION,
        "min_version": MIN_VERSION,
        "updated": "2016-02-08T12:20:21Z",
        "links": [{"rel": "self", "href": base_url(request) + "volume/v3/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}],
    }


def versions(request):
    return reply({"versions": [version_entry(request)]})


def version(request):
    return reply({"version": version_entry(request)})


def _pools():
    return StoragePool.objects.filter(state=PoolState.ACTIVE).order_by("name", "id")


def default_pool():
    """Without a volume type: the active pool most hosts see (shared storage reaches the most
    servers), then by name."""
    return _pools().annotate(seen_by=Count("hosts")).order_by("-seen_by", "name", "id").first()


def type_body(pool):
    return {
        "id": str(pool.pk),
        "name": pool.name,
        "description": f"Storage pool {pool.name} ({pool.type})",
        "is_public": True,
        "extra_specs": {"volume_backend_name": pool.name},
        "os-volume-type-access:is_public": True,
    }


def type_list(request):
    return reply({"volume_types": [type_body(p) for p in _pools()]})


def type_show(request, type_id):
    pool = _pool(type_id)
    return reply({"volume_type": type_body(pool)})


def _pool(ref):
    pools = _pools()
    pool = pools.filter(pk=ref).first() if str(ref).isdigit() else None
    pool = pool or pools.filter(name=ref).first()
    if pool is None:
        raise OsError(404, f"Volume type {ref} could not be found.")
    return pool


def _volumes(request):
    volumes = Volume.objects.filter(project=request.os_project).exclude(state=VolumeState.DELETING)
    return volumes.select_related("pool", "instance", "source_image").order_by("-created", "-id")


def _volume(request, volume_id):
    volume = _volumes(request).filter(uuid=volume_id).first() if _uuid(volume_id) else None
    if volume is None:
        raise OsError(404, f"Volume {volume_id} could not be found.")
    return volume


def _uuid(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def status(volume):
    if volume.state == VolumeState.BUSY:
        running = operations.active_on(volume)
        return BUSY_STATUS.get(running.kind if running else "", "maintenance")
    return volume.state


def attachment(volume):
    return {
        "id": str(volume.uuid),
        "attachment_id": str(volume.uuid),
        "volume_id": str(volume.uuid),
        "server_id": str(volume.instance.uuid),
        "device": f"/dev/{volume.target_dev}" if volume.target_dev else None,
        "host_name": None,
        "attached_at": iso_micro(volume.updated),
    }


def volume_body(request, volume, detail=True):
    body = {
        "id": str(volume.uuid),
        "name": volume.name,
        "links": [{"rel": "self", "href": link(request, f"/openstack/volume/v3/volumes/{volume.uuid}")}],
    }
    if not detail:
        return body
    body.update(
        {
            "status": status(volume),
            "size": volume.size_gb,
            "description": volume.description or None,
            "volume_type": volume.pool.name,
            "availability_zone": ZONE,
            "bootable": "true" if volume.source == VolumeSource.IMAGE else "false",
            "encrypted": False,
            "multiattach": volume.shareable,
            "attachments": [attachment(volume)] if volume.instance_id else [],
            "metadata": {},
            "snapshot_id": None,
            "source_volid": None,
            "consistencygroup_id": None,
            "replication_status": None,
            "user_id": None,
            "created_at": iso_micro(volume.created),
            "updated_at": iso_micro(volume.updated),
        }
    )
    return body


def volume_list(request, detail=False):
    volumes = list(_volumes(request))
    for key, value_of in (("name", lambda v: v.name), ("status", status)):
        if request.GET.get(key):
            volumes = [v for v in volumes if value_of(v) == request.GET[key]]
    volumes = paginate(volumes, request, key=lambda v: str(v.uuid))
    return reply({"volumes": [volume_body(request, v, detail) for v in volumes]})


def volume_detail_list(request):
    return volume_list(request, detail=True)


def volume_show(request, volume_id):
    return reply({"volume": volume_body(request, _volume(request, volume_id))})


UNSUPPORTED = {
    "source_volid": "volume clones through this API",
    "backup_id": "backups",
    "consistencygroup_id": "consistency groups",
    "group_id": "volume groups",
    "multiattach": "multi-attach volumes through this API",
    "metadata": "volume metadata",
    "scheduler_hints": "scheduler hints",
}


def volume_create(request):
    require_write(request, "volumes")
    data = body_of(request, "volume")
    for key, what in UNSUPPORTED.items():
        if data.get(key):
            raise OsError(501, f"Nubes does not implement {what} yet.")
    if data.get("availability_zone") not in (None, ZONE):
        raise OsError(400, f"Availability zone '{data['availability_zone']}' is invalid.")
    snapshot = _snapshot(request, data["snapshot_id"], 400) if data.get("snapshot_id") else None
    if data.get("volume_type"):
        pool = _pool(data["volume_type"])
    else:  # a clone of a snapshot lives in the snapshot's pool (its frozen file backs the clone)
        pool = snapshot.volume.pool if snapshot else default_pool()
    if pool is None:
        raise OsError(400, "No storage pool is active: there is no volume type to create the volume in.")
    image = None
    if data.get("imageRef"):
        ident = str(data["imageRef"])
        image = Image.objects.usable_in(request.os_project).filter(pk=ident).first() if ident.isdigit() else None
        if image is None:
            raise OsError(400, f"Invalid image identifier or unable to access requested image: {ident}.")
    size = data.get("size")
    if snapshot is not None and size is None:
        size = snapshot.volume.size_gb
    if not isinstance(size, int) or isinstance(size, bool):
        raise OsError(400, "size must be an integer number of GiB.")
    source = VolumeSource.SNAPSHOT if snapshot else VolumeSource.IMAGE if image else VolumeSource.EMPTY
    volume, _op = services.create_volume(
        request.user,
        request.os_project,
        name=str(data.get("name") or f"volume-{Volume.objects.count() + 1}"),
        description=str(data.get("description") or ""),
        pool=pool,
        size_gb=size,
        source=source,
        image=image,
        source_snapshot=snapshot,
        request=request,
    )
    return reply({"volume": volume_body(request, volume)}, status=202)


def volume_delete(request, volume_id):
    volume = _volume(request, volume_id)
    services.delete_volume(request.user, volume, request=request)
    return reply(None, status=202)


def volume_action(request, volume_id):
    """os-extend grows a volume (storage's resize: quota and pool capacity held)."""
    volume = _volume(request, volume_id)
    data = body_of(request)
    if set(data) != {"os-extend"}:
        name = next(iter(data), "none")
        raise OsError(
            501 if len(data) == 1 else 400, f"Nubes implements the os-extend volume action only (not {name})."
        )
    require_write(request, "volumes")
    new_size = (data["os-extend"] or {}).get("new_size") if isinstance(data["os-extend"], dict) else None
    if not isinstance(new_size, int) or isinstance(new_size, bool):
        raise OsError(400, "os-extend needs new_size, an integer number of GiB.")
    services.resize_volume(request.user, volume, new_size, request=request)
    return reply(None, status=202)


# --- snapshots (of volumes; instance snapshots are Nova's, not listed here) --------------------

SNAPSHOT_STATUS = {SnapshotState.BUSY: "available"}


def _snapshots(request):
    snapshots = Snapshot.objects.filter(project=request.os_project, volume__isnull=False)
    return snapshots.exclude(state=SnapshotState.DELETING).select_related("volume").order_by("-created", "-id")


def _snapshot(request, snapshot_id, status=404):
    ident = str(snapshot_id)
    snapshot = _snapshots(request).filter(pk=ident).first() if ident.isdigit() else None
    if snapshot is None:
        raise OsError(status, f"Snapshot {snapshot_id} could not be found.")
    return snapshot


def snapshot_body(request, snapshot, detail=True):
    body = {
        "id": str(snapshot.pk),
        "name": snapshot.name,
        "status": SNAPSHOT_STATUS.get(snapshot.state, snapshot.state),
    }
    body["links"] = [{"rel": "self", "href": link(request, f"/openstack/volume/v3/snapshots/{snapshot.pk}")}]
    if detail:
        body.update(
            {
                "description": snapshot.description or None,
                "volume_id": str(snapshot.volume.uuid),
                "size": snapshot.volume.size_gb,
                "metadata": {},
                "created_at": iso_micro(snapshot.created),
                "updated_at": None,
                "os-extended-snapshot-attributes:project_id": str(snapshot.project_id),
                "os-extended-snapshot-attributes:progress": "100%"
                if snapshot.state == SnapshotState.AVAILABLE
                else "0%",
            }
        )
    return body


def snapshot_list(request, detail=False):
    snapshots = list(_snapshots(request))
    wanted = {key: request.GET[key] for key in ("name", "status", "volume_id") if request.GET.get(key)}
    bodies = [snapshot_body(request, s) for s in snapshots]
    pairs = [(s, b) for s, b in zip(snapshots, bodies, strict=True) if all(b.get(k) == v for k, v in wanted.items())]
    pairs = paginate(pairs, request, key=lambda pair: pair[1]["id"])
    return reply({"snapshots": [b if detail else snapshot_body(request, s, False) for s, b in pairs]})


def snapshot_detail_list(request):
    return snapshot_list(request, detail=True)


def snapshot_show(request, snapshot_id):
    return reply({"snapshot": snapshot_body(request, _snapshot(request, snapshot_id))})


def snapshot_create(request):
    """An external (overlay) snapshot of the volume, as storage takes them; `force` is Cinder's
    flag for an in-use volume, which Nubes snapshots either way."""
    require_write(request, "snapshots")
    data = body_of(request, "snapshot")
    unknown = sorted(set(data) - {"volume_id", "name", "description", "force", "metadata"})
    if unknown or data.get("metadata"):
        raise OsError(400, f"Nubes does not take {', '.join(unknown) or 'snapshot metadata'} for a snapshot.")
    volume = _volumes(request).filter(uuid=data.get("volume_id")).first() if _uuid(data.get("volume_id")) else None
    if volume is None:
        raise OsError(404, f"Volume {data.get('volume_id')} could not be found.")
    snapshot, _op = services.create_snapshot(
        request.user,
        name=str(data.get("name") or f"snapshot-of-{volume.name}")[:63],
        description=str(data.get("description") or ""),
        volume=volume,
        kind=SnapshotKind.EXTERNAL,
        request=request,
    )
    return reply({"snapshot": snapshot_body(request, snapshot)}, status=202)


def snapshot_delete(request, snapshot_id):
    snapshot = _snapshot(request, snapshot_id)
    services.delete_snapshot(request.user, snapshot, request=request)
    return reply(None, status=202)


def limits(request):
    usage = quotas.usage(request.os_project)

    def get(resource, key):
        return usage.get(resource, {}).get(key, -1 if key == "limit" else 0)

    absolute = {
        "maxTotalVolumes": get("volumes", "limit"),
        "totalVolumesUsed": get("volumes", "in_use"),
        "maxTotalSnapshots": get("snapshots", "limit"),
        "totalSnapshotsUsed": get("snapshots", "in_use"),
        "maxTotalVolumeGigabytes": get("disk_gb", "limit"),
        "totalGigabytesUsed": get("disk_gb", "in_use"),
        "maxTotalBackups": 0,
        "totalBackupsUsed": 0,
        "maxTotalBackupGigabytes": 0,
        "totalBackupGigabytesUsed": 0,
    }
    return reply({"limits": {"rate": [], "absolute": absolute}})


# --- Nova's os-volume_attachments ------------------------------------------------------------


def nova_attachment(volume, instance):
    return {
        "id": str(volume.uuid),
        "volumeId": str(volume.uuid),
        "serverId": str(instance.uuid),
        "device": f"/dev/{volume.target_dev}" if volume.target_dev else None,
    }


def attachments_list(request, instance):
    volumes = _volumes(request).filter(instance=instance)
    return reply({"volumeAttachments": [nova_attachment(v, instance) for v in volumes]})


def attach(request, instance):
    require_write(request, "servers")
    data = body_of(request, "volumeAttachment")
    volume_id = data.get("volumeId")
    volume = _volumes(request).filter(uuid=volume_id).first() if _uuid(volume_id) else None
    if volume is None:
        raise OsError(404, f"Volume {volume_id} could not be found.")
    if data.get("device"):
        raise OsError(501, "Nubes picks the device name itself (the next free one on the bus).")
    services.attach_volume(request.user, volume, instance, request=request)
    volume.refresh_from_db()  # the device is chosen now; the attach finishes as an Operation
    return reply({"volumeAttachment": nova_attachment(volume, instance)})


def attachment_show(request, instance, volume_id):
    volume = _volumes(request).filter(instance=instance, uuid=volume_id).first() if _uuid(volume_id) else None
    if volume is None:
        raise OsError(404, f"Volume {volume_id} is not attached to the server.")
    return volume


def detach(request, instance, volume_id):
    volume = attachment_show(request, instance, volume_id)
    services.detach_volume(request.user, volume, request=request)
    return reply(None, status=202)
