"""Registering the lab (lab/state/lab.json, written by lab/up.sh) in the portal through the
apps' services and serializers, the way an admin would: a cluster, both hosts, the shared
pools, a tiny flavor, the lab guest as a kernel-boot image and the OVN endpoints. Safe to run twice."""

import json
from pathlib import Path

from django.conf import settings
from django.db import transaction

LAB_JSON = Path(settings.BASE_DIR) / "lab" / "state" / "lab.json"
CLUSTER = "lab"
FLAVOR = "lab.tiny"
IMAGE = "lab-guest"
IMAGE_VOLUME = "lab-guest-root.qcow2"
SHARED_POOL = "nubes-shared"
GUEST_DISK_GB = 1


class LabNotUp(Exception):
    pass


def load(path=LAB_JSON):
    path = Path(path)
    if not path.exists():
        raise LabNotUp(f"{path} does not exist: run `make lab` (as root) first")
    return json.loads(path.read_text())


def _save(serializer_class, instance, data):
    serializer = serializer_class(instance, data=data, partial=instance is not None)
    serializer.is_valid(raise_exception=True)
    return serializer.save()


def register(user, lab, network_uris=False):
    """Returns what it registered: {"cluster", "hosts", "pools", "flavor", "image", "ovn", "chassis"}.
    network_uris: every host by its lab address (host A's qemu+tcp:// too), as a fleet whose
    workers run on other machines reaches them."""
    from compute.api.serializers import ClusterSerializer, FlavorSerializer, HostSerializer, ImageSerializer
    from compute.models import Cluster, Flavor, Host, Image
    from compute.services import instances as compute_services

    cluster = Cluster.objects.filter(name=CLUSTER).first() or _save(
        ClusterSerializer, None, {"name": CLUSTER, "description": "The two-host lab on this machine"}
    )
    hosts = []
    for spec in lab["hosts"]:
        uri = spec["tcp_uri"] if network_uris else spec["uri"]
        host = Host.objects.filter(uri=uri).first()
        if host is None:
            host, _ = compute_services.register_host(user, name=spec["name"], uri=uri, cluster=cluster)
        else:
            compute_services.refresh_host(user, host)
        host = _save(
            HostSerializer,
            Host.objects.get(pk=host.pk),
            {
                "migration_uri": spec.get("migration_uri") or "",
                "serial_log_dir": lab["guest"]["serial_log_dir"],
                "default_network": "",  # NICs come from OVN ports
            },
        )
        hosts.append(host)
    flavor = Flavor.objects.filter(name=FLAVOR, project=None).first() or _save(
        FlavorSerializer,
        None,
        {
            "name": FLAVOR,
            "vcpus": 1,
            "ram_mb": lab["guest"]["memory_mib"],
            "disk_gb": GUEST_DISK_GB,
            "visibility": "public",
        },
    )
    guest = lab["guest"]
    image = Image.objects.filter(name=IMAGE, project=None).first() or _save(
        ImageSerializer,
        None,
        {
            "name": IMAGE,
            "format": "qcow2",
            "virtual_size_gb": GUEST_DISK_GB,
            "visibility": "public",
            "pool": SHARED_POOL,
            "volume": IMAGE_VOLUME,
            "kernel_path": guest["kernel"],
            "initrd_path": guest["initrd"],
            "kernel_cmdline": guest["cmdline"],
        },
    )
    return {
        "cluster": cluster,
        "hosts": hosts,
        "pools": register_pools(user, lab, hosts),
        "flavor": flavor,
        "image": image,
        "ovn": register_ovn(user, lab),
        "chassis": check_chassis(lab),
    }


def register_ovn(user, lab):
    """Save the lab's OVN endpoints as the portal's OVN deployment, so the network app uses
    them without environment variables (NUBES_OVN_* variables, when set, still win)."""
    from network import services as network_services

    gateways = [host["chassis"] for host in lab["hosts"] if host.get("gateway")]
    return network_services.update_deployment(
        user,
        nb_connection=lab["ovn"]["nb"],
        sb_connection=lab["ovn"]["sb"],
        gateway_chassis=",".join(gateways),
        encap_type=lab["ovn"]["encap_type"],
    )


def check_chassis(lab):
    """{host name: what its OVS database lacks for OVN (ChassisCheck.describe())}, each host
    checked against what lab.json says it should be."""
    from network.ovn.chassis import ChassisConfig, chassis_check
    from network.ovn.errors import OvnError

    report = {}
    for host in lab["hosts"]:
        mappings = dict(item.split(":", 1) for item in (host.get("bridge_mappings") or "").split(",") if item)
        want = ChassisConfig(host["chassis"], lab["ovn"]["sb"], host["encap_ip"], lab["ovn"]["encap_type"], mappings)
        try:
            report[host["name"]] = chassis_check(host["ovs_db"], want).describe()
        except OvnError as exc:
            report[host["name"]] = f"cannot read its OVS database {host['ovs_db']}: {exc}"
    return report


def pool_fields(spec):
    """A lab.json pool as the portal's pool fields: dir pools, and the storage node's GlusterFS
    (netfs) and iSCSI (iscsi-direct) pools."""
    fields = {"type": spec.get("type", "dir"), "target_path": spec.get("path") or ""}
    if fields["type"] == "netfs":
        fields.update(source_host=spec["source_host"], source_dir=spec["source_dir"], source_format=spec["format"])
    elif fields["type"] == "iscsi-direct":
        fields.update(source_host=spec["source_host"], source_device=spec["source_device"])
    return fields


def register_pools(user, lab, hosts):
    from storage.models import StoragePool
    from storage.services import volumes as storage_services

    by_name = {host.name: host for host in hosts}
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
    return pools
