"""Celery tasks of compute: primary keys in, reload, call the gateway, record the outcome on
the Operation and the instance, publish the instance to `compute.instance.<pk>`."""

import logging

from celery import shared_task
from django.utils import timezone

import hypervisor as hv
from compute import cloudinit, domain, hooks
from compute.choices import (
    BYTES_PER_GIB,
    CPU_PERIOD_US,
    KIB_PER_MIB,
    STATE_FOR_POWER,
    Action,
    EventSource,
    HostState,
    ImageFormat,
    InstanceState,
    PowerState,
    RebootKind,
)
from compute.hosts import pools_of
from compute.models import Flavor, Host, Image, Instance
from portal import operations, presenters, quotas, realtime
from portal.errors import ActionError
from portal.tasks import run_operation

log = logging.getLogger(__name__)
INSTANCE_RELATED = ("project", "flavor", "image", "host", "host__cluster", "key_pair")
BYTES_PER_MIB = 1024 * 1024
UPLOAD_PROGRESS_START, UPLOAD_PROGRESS_SPAN, UPLOAD_PROGRESS_STEP = 10, 25, 5  # % of a create


# --- publishing and state ------------------------------------------------------------------


def publish(instance):
    data = presenters.present(instance)
    realtime.publish_to_project(instance.project_id, "instance", data, also=[instance.group])


def _load(pk):
    return Instance.objects.select_related(*INSTANCE_RELATED).get(pk=pk)


def set_state(instance, state, power_state=None, reason=""):
    instance.state = state
    instance.state_reason = reason[:500]
    fields = ["state", "state_reason", "updated"]
    if power_state is not None:
        instance.power_state = power_state
        fields.append("power_state")
    instance.save(update_fields=fields)
    publish(instance)


def sync_power(instance, reason=""):
    """Read the domain's state from libvirt and write what it implies."""
    dom = hv.domain_state(instance.host.uri, str(instance.uuid))
    power = PowerState(dom.state)
    record_vnc_port(instance, power)
    set_state(instance, STATE_FOR_POWER[power], power, reason)
    return power


def record_vnc_port(instance, power):
    """The live VNC port of a running domain on a real host (the console proxy's target)."""
    port = None
    if power == PowerState.RUNNING and not instance.host.simulated:
        port = hv.parse_domain_xml(hv.domain_xml(instance.host.uri, str(instance.uuid))).vnc_port
        port = port if port and port > 0 else None
    if port != instance.vnc_port:
        instance.vnc_port = port
        instance.save(update_fields=["vnc_port"])


def _after_failure(instance, exc):
    """After a failed action, make the row say what the host says (or why it cannot)."""
    try:
        sync_power(instance, f"Last action failed: {exc}")
    except hv.DomainNotFound:
        set_state(instance, InstanceState.ERROR, PowerState.VANISHED, "The domain is gone from its host.")
    except hv.HypervisorError as second:
        set_state(instance, instance.state, reason=f"Last action failed: {exc}; state unknown: {second}")


# --- create --------------------------------------------------------------------------------


def _ensure_image(host, image, op=None):
    """The image's volume on the host, filled on first use: a real host gets the data from the
    portal's image store (volume_upload), a simulated host's cache an empty stand-in."""
    # A kernel-boot image's disk starts blank, so it can be made on any host; not so the image
    # made from a kernel-boot instance's disk (compute.tasks.capture): its data is copied.
    blank = bool(image.kernel_path) and image.instance_uuid is None
    try:
        return hv.volume_info(host.uri, image.pool, image.volume)
    except hv.VolumeNotFound:
        if not host.simulated and image.file_path and not blank:
            return _upload_image(host, image, op)
        source = None if host.simulated or blank else _image_source(host, image)
        if source is not None:
            return _copy_image(source, host, image, op)
        if not host.simulated and not blank:
            raise ActionError(
                f"Image {image.name} is missing on {host.name}: no volume "
                f"{image.volume} in pool {image.pool}, and no data in the image store."
            ) from None
    # Simulated hosts keep nothing between processes: stand in an empty volume of the
    # image's size, as an image cache would after a download.
    return hv.volume_create(host.uri, image.pool, image.volume, image.virtual_size_gb * BYTES_PER_GIB, image.format)


def _image_source(host, image):
    """Another real host, up, whose copy of the image's pool holds the image's volume, or None."""
    others = Host.objects.filter(state=HostState.UP, simulated=False).exclude(pk=host.pk).order_by("name")
    for other in others:
        if image.pool not in (pools_of(other) or ()):
            continue
        try:
            hv.volume_info(other.uri, image.pool, image.volume)
        except hv.HypervisorError:
            continue
        return other
    return None


def _copy_image(source, host, image, op):
    """Stream the image's volume from ``source``'s pool into ``host``'s, through this worker
    (download into upload): no file on the worker's disk."""
    if op is not None:
        operations.progress(op, UPLOAD_PROGRESS_START, f"Copying image {image.name} from {source.name} to {host.name}")
    return hv.volume_copy_across(source.uri, image.pool, image.volume, host.uri, image.pool).volume


def _upload_image(host, image, op):
    """Stream the image's file from the portal's store into the host's pool (progress on ``op``)."""
    reported = [0]

    def progress(sent, total):
        percent = UPLOAD_PROGRESS_SPAN * sent // total
        if op is not None and percent >= reported[0] + UPLOAD_PROGRESS_STEP:
            reported[0] = percent
            operations.progress(
                op,
                UPLOAD_PROGRESS_START + percent,
                f"Copying image {image.name} to {host.name}: {sent // BYTES_PER_MIB} of {total // BYTES_PER_MIB} MiB",
            )

    result = hv.volume_upload(
        host.uri, image.pool, image.volume, image.file_path, fmt=image.format, on_progress=progress
    )
    return result.volume


def _make_root(instance, image, op=None):
    host, flavor = instance.host, instance.flavor
    base = _ensure_image(host, image, op)
    if flavor.linked_clone and image.format == ImageFormat.QCOW2:
        return hv.volume_create(
            host.uri,
            image.pool,
            instance.root_volume,
            instance.disk_gb * BYTES_PER_GIB,
            "qcow2",
            backing_path=base.path,
            backing_format=image.format,
        )
    return hv.volume_clone(host.uri, image.pool, image.volume, instance.root_volume, fmt="qcow2")


def _remove(host, made):
    """Undo a half-made build, newest first; report what could not be removed."""
    leftovers = []
    for kind, name, pool in reversed(made):
        try:
            if kind == "seed":
                cloudinit.remove_seed(host, name)
            elif kind == "serial":
                domain.remove_serial_log(host.uri, name)
            elif kind == "domain":
                if hv.domain_state(host.uri, name).state not in (PowerState.SHUTOFF, PowerState.SUSPENDED):
                    hv.domain_destroy(host.uri, name)
                hv.domain_undefine(host.uri, name)
            else:
                hv.volume_delete(host.uri, pool, name)
        except (hv.DomainNotFound, hv.VolumeNotFound, hv.PoolNotFound):
            continue  # a pool the host never had holds nothing of ours: nothing left to remove
        except (hv.HypervisorError, OSError) as exc:
            leftovers.append(f"{kind} {name}: {exc}")
    return leftovers


def _serial(instance):
    """The domain's serial log, removed after the domain (QEMU writes it while it runs)."""
    return [("serial", instance.serial_log_path, None)] if instance.serial_log_path else []


def _define(instance, root_path):
    xml = hv.build_domain_xml(domain.domain_spec(instance, root_path))
    return hv.domain_define(instance.host.uri, xml)


@shared_task(bind=True, name="compute.tasks.create_instance")
def create_instance(self, op_id):
    def work(op):
        instance = _load(op.target_id)
        host, made, done = instance.host, [], False
        try:
            _wake_first(op)
            operations.progress(op, 10, f"Preparing image {instance.image.name} on {host.name}")
            root = _make_root(instance, instance.image, op)
            made.append(("volume", instance.root_volume, instance.image.pool))
            if cloudinit.place_seed(instance, instance.image.pool) is not None:
                made.append(("seed", instance.seed_path, None))
            operations.progress(op, 40, "Defining the domain")
            _prepare(instance)
            uuid = _define(instance, root.path)
            made += _serial(instance) + [("domain", uuid, None)]
            operations.progress(op, 70, "Starting")
            hv.domain_start(host.uri, uuid)
            sync_power(instance)
            domain.mark_built(instance)
            domain.record_event(instance, EventSource.ACTION, "created", f"on {host.name}", op)
            done = True
        finally:
            if not done:
                _fail_create(instance, host, made, op)
        return f"{instance.name} is running on {host.name}"

    return run_operation(op_id, work, self.request.id or "")


def _prepare(instance):
    fields = {"serial_log_path": domain.serial_log_path(instance)}
    if instance.flavor.cpu_policy == "dedicated":
        fields["pinned_cpus"] = domain.choose_pinning(instance, instance.host)
    for name, value in fields.items():
        setattr(instance, name, value)
    instance.save(update_fields=list(fields))


def _fail_create(instance, host, made, op, why="The build failed"):
    leftovers = _remove(host, made)
    domain.release_quota(instance)
    reason = (
        f"{why}; nothing was left on the host." if not leftovers else f"{why}; could not remove: {'; '.join(leftovers)}"
    )
    domain.record_event(instance, EventSource.ACTION, "create failed", reason, op)
    set_state(instance, InstanceState.ERROR, PowerState.NOSTATE, reason)


def settle_lost_create(op):
    """The reaper's settle hook (portal.leases) for a create whose worker is gone (or whose task
    the broker refused: no worker ever had it): remove what the build may have made on the host
    (domain, root volume, seed; those absent are skipped), give the quota back and leave the
    instance in error, as a failed build does. Raises when the host does not answer, so the
    reaper asks again next round."""
    instance = Instance.objects.select_related(*INSTANCE_RELATED).filter(pk=op.target_id).first()
    if instance is None or instance.host is None or instance.state != InstanceState.BUILDING:
        return ""
    host, pool = instance.host, instance.image.pool
    hv.host_ping(host.uri)  # raises when the host does not answer: nothing is judged blind
    made = [
        ("volume", instance.root_volume, pool),
        ("volume", cloudinit.seed_volume(instance.domain_name), pool),
        ("domain", str(instance.uuid), None),
    ]
    why = "The build was interrupted (its worker was lost)" if op.worker else "The build never started"
    _fail_create(instance, host, made, op, why=why)
    return instance.state_reason


# --- actions -------------------------------------------------------------------------------


def _wake_first(op):
    """A create or start that needs a standby host (to run on, or for the failover capacity
    HA admission control keeps) wakes it before its own work."""
    if op.detail.get("wake_host"):
        hooks.wake_host(Host.objects.get(pk=op.detail["wake_host"]), op)


def _start(instance, op):
    _wake_first(op)
    uri, uuid = instance.host.uri, str(instance.uuid)
    if op.detail.get("ha") and hv.domain_state(uri, uuid).state == PowerState.CRASHED:
        hv.domain_destroy(uri, uuid)  # a crash preserved for inspection holds the domain active
    hv.domain_start(uri, uuid)
    return f"Restarted by HA: {op.detail['reason']}" if op.detail.get("ha") else None


def _stop(instance, op):
    uri, uuid = instance.host.uri, str(instance.uuid)
    if op.detail.get("force"):
        hv.domain_destroy(uri, uuid)
        return "Powered off (forced)"
    result = hv.domain_shutdown(uri, uuid, timeout=float(op.detail.get("timeout", 0)))
    if result.graceful:
        return f"Shut down by the guest in {result.waited_s:.1f} s"
    return f"The guest ignored the request for {result.waited_s:.0f} s; powered off"


def _reboot(instance, op):
    uri, uuid = instance.host.uri, str(instance.uuid)
    if op.detail.get("kind") == RebootKind.HARD:
        hv.domain_destroy(uri, uuid)
        hv.domain_start(uri, uuid)
    else:
        hv.domain_reboot(uri, uuid)
    return f"Reset by HA: {op.detail['reason']}" if op.detail.get("ha") else None


def _simple(verb):
    # Looked up at call time, so the gateway stays one patchable module.
    def run(instance, op):
        getattr(hv, verb)(instance.host.uri, str(instance.uuid))

    return run


def _root_path(instance):
    """The root disk's active file: the top of its chain when an app keeps one (storage's
    external snapshots), else compute's fixed root volume."""
    path = hooks.root_disk_path(instance, None)
    return path or hv.volume_info(instance.host.uri, instance.image.pool, instance.root_volume).path


def _root_files(instance):
    """("volume", name, pool) of every file of the root disk, base first (_remove undoes newest first)."""
    files = hooks.root_disk_files(instance, ((instance.image.pool, instance.root_volume),))
    return [("volume", name, pool) for pool, name in reversed(files)]


def _rename(instance, op):
    _define(instance, _root_path(instance))
    return f"Renamed to {instance.name}"


def _resize(instance, op):
    flavor = Flavor.objects.get(pk=op.detail["flavor"])
    uri, uuid = instance.host.uri, str(instance.uuid)
    delta = op.detail["delta"]
    how = "live" if op.detail.get("live") else "cold"
    try:
        if op.detail.get("live"):
            hv.domain_set_vcpus(uri, uuid, flavor.vcpus)
            if flavor.ram_mb > instance.ram_mb:
                plugged = hv.domain_attach_memory(uri, uuid, (flavor.ram_mb - instance.ram_mb) * KIB_PER_MIB, 0)
                how = "memory hotplugged (simulated)" if plugged.simulated else "memory hotplugged"
            elif flavor.ram_mb < instance.ram_mb:
                hv.domain_set_balloon(uri, uuid, flavor.ram_mb * KIB_PER_MIB)
        if not op.detail.get("live") and flavor.disk_gb > instance.disk_gb:
            hv.volume_resize(uri, instance.image.pool, instance.root_volume, flavor.disk_gb * BYTES_PER_GIB)
        instance.flavor, instance.vcpus, instance.ram_mb, instance.disk_gb = (
            flavor,
            flavor.vcpus,
            flavor.ram_mb,
            flavor.disk_gb,
        )
        if not op.detail.get("live"):
            _define(instance, _root_path(instance))
    except (hv.HypervisorError, ActionError):
        quotas.give_back(instance.project, **{k: v for k, v in delta.items() if v > 0})
        raise
    instance.save(update_fields=["flavor", "vcpus", "ram_mb", "disk_gb"])
    quotas.give_back(instance.project, **{k: -v for k, v in delta.items() if v < 0})
    return f"Resized to {flavor.name} ({how})"


def _rebuild(instance, op):
    image = Image.objects.get(pk=op.detail["image"])
    uri, uuid = instance.host.uri, str(instance.uuid)
    was_running = hv.domain_state(uri, uuid).state != PowerState.SHUTOFF
    if was_running:
        hv.domain_destroy(uri, uuid)
    leftovers = _remove(instance.host, _root_files(instance))
    if leftovers:
        raise ActionError(f"Could not remove the old root disk: {'; '.join(leftovers)}")
    hooks.root_disk_replaced.send(sender=Instance, instance=instance)
    root = _make_root(instance, image)
    instance.image = image
    instance.save(update_fields=["image"])
    _define(instance, root.path)
    if was_running:
        hv.domain_start(uri, uuid)
    return f"Rebuilt from {image.name}"


def _delete(instance, op):
    uuid = str(instance.uuid)
    seed = [("seed", instance.seed_path, None)] if instance.seed_path else []
    # _remove goes newest first: the domain, then the root chain's top file down to its base.
    leftovers = []
    if instance.host is not None:  # never placed: nothing on any host
        leftovers = _remove(instance.host, _serial(instance) + seed + _root_files(instance) + [("domain", uuid, None)])
    if leftovers:
        raise ActionError(f"Could not remove: {'; '.join(leftovers)}")
    domain.release_quota(instance)
    instance.deleted = timezone.now()
    instance.save(update_fields=["deleted"])
    set_state(instance, InstanceState.DELETED, PowerState.SHUTOFF)
    hooks.instance_removed.send(sender=Instance, instance=instance)
    return f"Deleted {instance.name}; domain, root disk and serial log removed"


def _set_balloon(instance, op):
    memory_mb = int(op.detail["memory_mb"])
    hv.domain_set_balloon(instance.host.uri, str(instance.uuid), memory_mb * KIB_PER_MIB)
    instance.balloon_mb = memory_mb
    instance.save(update_fields=["balloon_mb"])
    return f"Balloon target {memory_mb} MB"


def _set_cpu_qos(instance, op):
    shares, limit = op.detail.get("shares"), op.detail.get("limit_pct")
    qos = hv.CpuQos(
        shares=shares,
        period=CPU_PERIOD_US if limit else None,
        quota=limit * CPU_PERIOD_US // 100 if limit else None,
    )
    instance.cpu_shares = shares or instance.cpu_shares
    instance.cpu_limit_pct = limit or instance.cpu_limit_pct
    try:
        hv.domain_set_cpu_qos(instance.host.uri, str(instance.uuid), qos)
        message = "CPU QoS applied live"
    except hv.NotSupported:
        if not instance.host.simulated:
            raise
        # The test driver has no CPU scheduler parameters: the setting goes into the config.
        _define(instance, _root_path(instance))
        message = "CPU QoS written to the domain's configuration (simulated host: no live scheduler)"
    instance.save(update_fields=["cpu_shares", "cpu_limit_pct"])
    return message


ACTIONS = {
    Action.START: _start,
    Action.STOP: _stop,
    Action.REBOOT: _reboot,
    Action.SUSPEND: _simple("domain_managed_save"),
    Action.RESUME: _start,
    Action.PAUSE: _simple("domain_suspend"),
    Action.UNPAUSE: _simple("domain_resume"),
    Action.RENAME: _rename,
    Action.RESIZE: _resize,
    Action.REBUILD: _rebuild,
    Action.DELETE: _delete,
    Action.SET_BALLOON: _set_balloon,
    Action.SET_CPU_QOS: _set_cpu_qos,
}


@shared_task(bind=True, name="compute.tasks.instance_action")
def instance_action(self, op_id):
    def work(op):
        action = Action(op.kind.split(".", 1)[1])
        instance = _load(op.target_id)
        try:
            message = ACTIONS[action](instance, op)
        except (hv.HypervisorError, ActionError) as exc:
            _after_failure(instance, exc)
            domain.record_event(instance, EventSource.ACTION, f"{action} failed", str(exc), op)
            raise
        if action != Action.DELETE:
            sync_power(instance)
        domain.record_event(instance, EventSource.ACTION, f"{action} done", message or "", op)
        return message or f"{action} done"

    return run_operation(op_id, work, self.request.id or "")
