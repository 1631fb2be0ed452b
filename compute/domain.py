"""Instances as the tasks and the services both need them, below both: the libvirt domain spec
(CPU pinning, NUMA, NICs, seed disks, devices, the serial log), and the records an instance
keeps (its events, its quota)."""

import os

from django.db import transaction
from django.utils import timezone
from lxml import etree

import hypervisor as hv
from compute import console, hooks
from compute.choices import (
    BALLOON_STATS_PERIOD_S,
    CPU_PERIOD_US,
    KIB_PER_MIB,
    PLACED_STATES,
    VCPU_HOTPLUG_HEADROOM,
    CpuPolicy,
    DiskBus,
)
from compute.models import Instance, InstanceEvent
from portal import quotas
from portal.errors import ActionError

VNC_PASSWORD_MAX = 8  # VNC authentication uses at most 8 characters
MIN_BALLOON_MB = 64
SERIAL_LOG_DIR = "/var/log/libvirt/qemu"
MAC_OUI = "52:54:00"  # QEMU's locally administered prefix
DISK_TARGETS = {DiskBus.VIRTIO: "vda", DiskBus.SCSI: "sda", DiskBus.SATA: "sda"}
DIMM_ALIGN_MB = 2  # QEMU aligns hotplugged DIMMs to 2 MiB


def release_quota(instance):
    """Give back what the instance holds, once (a second call does nothing)."""
    with transaction.atomic():
        if not Instance.objects.filter(pk=instance.pk, quota_held=True).update(quota_held=False):
            return
        quotas.give_back(
            instance.project, instances=1, vcpus=instance.vcpus, ram_mb=instance.ram_mb, disk_gb=instance.disk_gb
        )
    instance.quota_held = False


def release_image_quota(sender, instance, **kwargs):
    """post_delete of an Image: one made from an instance gives its project's images quota back."""
    if instance.instance_uuid is not None and instance.project_id is not None:
        quotas.give_back(instance.project, images=1)


def record_event(instance, source, kind, detail="", operation=None):
    return InstanceEvent.objects.create(
        instance=instance, source=source, kind=kind, detail=detail[:500], operation=operation
    )


def mark_built(instance):
    Instance.objects.filter(pk=instance.pk).update(launched=timezone.now())


# --- the domain a flavor describes ---------------------------------------------------------


def max_vcpus(instance):
    """vCPU hotplug headroom: only for shared, single-NUMA-node flavors."""
    flavor = instance.flavor
    if flavor.cpu_policy == CpuPolicy.DEDICATED or flavor.numa_nodes > 1:
        return instance.vcpus
    return instance.vcpus * VCPU_HOTPLUG_HEADROOM


def mac_address(instance):
    tail = instance.uuid.bytes[-3:]
    return MAC_OUI + "".join(f":{b:02x}" for b in tail)


def choose_pinning(instance, host):
    """Host CPUs for a dedicated instance: the lowest not pinned by another instance."""
    taken = set()
    others = Instance.objects.filter(host=host, state__in=PLACED_STATES).exclude(pk=instance.pk)
    for cpus in others.values_list("pinned_cpus", flat=True):
        taken.update(cpus or ())
    free = [cpu for cpu in range(host.cpus) if cpu not in taken]
    if len(free) < instance.vcpus:
        raise ActionError(f"Host {host.name} has {len(free)} unpinned CPUs; {instance.vcpus} needed.")
    return free[: instance.vcpus]


def _numa(instance):
    nodes = instance.flavor.numa_nodes
    if nodes <= 1:
        if not instance.flavor.memory_slots:
            return ()
        # QEMU hotplugs DIMMs only into a guest with a NUMA topology: one cell with everything.
        return (
            hv.NumaCellSpec(id=0, cpus=_cpuset(range(max_vcpus(instance))), memory_kib=instance.ram_mb * KIB_PER_MIB),
        )
    per_cpu, per_mem = instance.vcpus // nodes, instance.ram_mb * KIB_PER_MIB // nodes
    return tuple(
        hv.NumaCellSpec(id=n, cpus=_cpuset(range(n * per_cpu, (n + 1) * per_cpu)), memory_kib=per_mem)
        for n in range(nodes)
    )


def _cpuset(cpus):
    cpus = list(cpus)
    return str(cpus[0]) if len(cpus) == 1 else f"{cpus[0]}-{cpus[-1]}"


def _host_nodes(host, cpus):
    cells = host.facts.get("numa_cells") or []
    nodes = sorted({cell["id"] for cell in cells if set(cell["cpus"]) & set(cpus)})
    return ",".join(str(n) for n in nodes) or None


def domain_spec(instance, root_path):
    """The DomainSpec of an instance: every virtualization feature from an explicit setting."""
    flavor, host, image = instance.flavor, instance.host, instance.image
    shares = instance.cpu_shares or flavor.cpu_shares
    limit = instance.cpu_limit_pct or flavor.cpu_limit_pct
    pins = tuple(hv.VcpuPin(vcpu=i, cpuset=str(cpu)) for i, cpu in enumerate(instance.pinned_cpus or ()))
    password = instance.vnc_password()
    return hv.DomainSpec(
        name=instance.domain_name,
        uuid=str(instance.uuid),
        title=instance.name,
        description=f"Nubes instance {instance.pk} of project {instance.project.name}",
        instance_id=str(instance.pk),
        project_id=str(instance.project_id),
        domain_type="kvm" if host.kvm_usable else "qemu",
        vcpus=instance.vcpus,
        max_vcpus=max_vcpus(instance) if max_vcpus(instance) > instance.vcpus else None,
        memory_kib=instance.ram_mb * KIB_PER_MIB,
        max_memory_kib=flavor.max_ram_mb * KIB_PER_MIB if flavor.memory_slots else None,
        memory_slots=flavor.memory_slots,
        current_memory_kib=instance.balloon_mb * KIB_PER_MIB if instance.balloon_mb else None,
        **cpu_definition(host.cluster),
        cpu_shares=shares,
        cpu_period=CPU_PERIOD_US if limit else None,
        cpu_quota=limit * CPU_PERIOD_US // 100 if limit else None,
        vcpu_pins=pins,
        numa_cells=_numa(instance),
        numa_mode="strict" if pins and _host_nodes(host, instance.pinned_cpus) else None,
        numa_nodeset=_host_nodes(host, instance.pinned_cpus) if pins else None,
        hugepages=flavor.hugepages,
        balloon_stats_period_s=BALLOON_STATS_PERIOD_S,
        iothreads=1,
        disks=(
            hv.DiskSpec(
                target_dev=DISK_TARGETS[flavor.disk_bus],
                path=root_path,
                format="qcow2",
                bus=flavor.disk_bus,
                iothread=1 if flavor.disk_bus == DiskBus.VIRTIO else None,
                boot_order=1,
            ),
        )
        + seed_disks(instance)
        + hooks.extra_disks(instance),
        nics=instance_nics(instance),
        hostdevs=host_devices(instance),
        kernel=image.kernel_path or None if image else None,
        initrd=image.initrd_path or None if image else None,
        cmdline=image.kernel_cmdline or None if image else None,
        watchdog_action=flavor.watchdog or None,
        serial_log_path=instance.serial_log_path or None,
        vnc_password=password[:VNC_PASSWORD_MAX] if password else None,
        vnc_listen=console.listen_address(host),
    )


def host_devices(instance):
    """PCI / SR-IOV devices an admin assigned (compute.models.devices: XML only, no hardware here)."""
    if instance.pk is None or instance._state.adding:
        return ()
    return tuple(hv.HostdevSpec(pci_address=d.pci_address) for d in instance.host_devices.order_by("pci_address"))


def seed_disks(instance):
    """The cloud-init NoCloud seed as a read-only SATA cdrom (after the root disk's name)."""
    if not instance.seed_path:
        return ()
    target = "sdb" if DISK_TARGETS[instance.flavor.disk_bus] == "sda" else "sda"
    return (
        hv.DiskSpec(
            target_dev=target,
            device="cdrom",
            path=instance.seed_path,
            format="raw",
            bus="sata",
            cache=None,
            discard_unmap=False,
            readonly=True,
        ),
    )


def cpu_definition(cluster):
    """Instances present the cluster's CPU baseline (EVC) when it has one, so they can move to
    any of its hosts; otherwise they copy their host's CPU."""
    if not cluster.cpu_baseline_model:
        return {"cpu_mode": "host-model"}
    features = ()
    if cluster.cpu_baseline_xml:
        root = etree.fromstring(cluster.cpu_baseline_xml.encode())
        features = tuple(
            hv.CpuFeature(name=f.get("name"), policy=f.get("policy", "require")) for f in root.iter("feature")
        )
    return {"cpu_mode": "custom", "cpu_model": cluster.cpu_baseline_model, "cpu_features": features}


def instance_nics(instance):
    """The network app's ports, else a NIC on the host's default libvirt network (if any)."""
    ports = hooks.nics(instance)
    if ports:
        return ports
    network = instance.host.default_network
    if not network:
        return ()
    return (hv.NicSpec(mac=mac_address(instance), network=network, queues=instance.flavor.nic_queues),)


def remove_serial_log(uri, path):
    """Delete a gone domain's serial log on its host: the file here on the portal's own host,
    else over the host's libvirt connection (hypervisor.serial_log_remove); none is no error."""
    if hv.is_local(uri):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    else:
        hv.serial_log_remove(uri, path)


def serial_log_path(instance):
    if instance.host.simulated:
        return ""
    return f"{instance.host.serial_log_dir or SERIAL_LOG_DIR}/{instance.domain_name}-serial.log"
