"""storage's part in registering the lab (portal.lab): the pools lab.json lists, on the hosts
compute's step registered. Safe to run twice."""

from django.db import transaction

from storage import services as storage_services
from storage.models import StoragePool

LAB_ORDER = 20  # after compute's hosts


def pool_fields(spec):
    """A lab.json pool as the portal's pool fields: dir pools, and the storage node's GlusterFS
    (netfs) and iSCSI (iscsi-direct) pools."""
    fields = {"type": spec.get("type", "dir"), "target_path": spec.get("path") or ""}
    if fields["type"] == "netfs":
        fields.update(source_host=spec["source_host"], source_dir=spec["source_dir"], source_format=spec["format"])
    elif fields["type"] == "iscsi-direct":
        fields.update(source_host=spec["source_host"], source_device=spec["source_device"])
    return fields


def register(user, lab, made, **options):
    by_name = {host.name: host for host in made["hosts"]}
    pools = []
    for spec in lab.get("pools", []):
        pool = StoragePool.objects.filter(name=spec["name"]).first()
        if pool is None:
            with transaction.atomic():
                pool, _ = storage_services.define_pool(
                    user,
                    hosts=[by_name[name] for name in spec["hosts"] if name in by_name],
                    name=spec["name"],
                    libvirt_name=spec["name"],
                    **pool_fields(spec),
                )
        pools.append(pool)
    made["pools"] = pools
