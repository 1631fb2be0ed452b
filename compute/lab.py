"""compute's part in registering the lab (portal.lab): the lab cluster, both hosts, a tiny
flavor and the lab guest as a kernel-boot image, through the API's serializers and compute's
services the way an admin would. Safe to run twice."""

from compute.api.serializers import ClusterSerializer, FlavorSerializer, HostSerializer, ImageSerializer
from compute.models import Cluster, Flavor, Host, Image
from compute.services import instances as compute_services
from portal.lab import CLUSTER, FLAVOR, GUEST_DISK_GB, IMAGE, IMAGE_VOLUME, SHARED_POOL

LAB_ORDER = 10  # before storage's pools (they name the hosts) and network's OVN endpoints


def _save(serializer_class, instance, data):
    serializer = serializer_class(instance, data=data, partial=instance is not None)
    serializer.is_valid(raise_exception=True)
    return serializer.save()


def register(user, lab, made, network_uris=False, **options):
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
    made.update(cluster=cluster, hosts=hosts, flavor=flavor, image=image)
