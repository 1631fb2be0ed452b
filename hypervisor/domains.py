"""Domain lifecycle and tuning verbs. Domains are addressed by UUID string."""

from __future__ import annotations

import time
from collections.abc import Callable

import libvirt
from lxml import etree

from .connection import get_connection, is_simulated, lookup_domain
from .domain_read import adapt_for_test_driver, parse_xml
from .domain_xml import NUBES_NS, NUBES_PREFIX, metadata_element, parse_cpuset
from .errors import InvalidConfig, NotSupported, translated
from .types import STATE_NAMES, SUSPENDED, CpuQos, DomainState, ShutdownResult

SHUTDOWN_POLL_S = 0.25
_QOS_PARAMS = {"shares": "cpu_shares", "period": "vcpu_period", "quota": "vcpu_quota"}


def _state_name(dom: libvirt.virDomain, code: int) -> str:
    if code == libvirt.VIR_DOMAIN_SHUTOFF and dom.hasManagedSaveImage(0):
        return SUSPENDED
    return STATE_NAMES.get(code, "nostate")


def _metadata(dom: libvirt.virDomain) -> tuple[str | None, str | None]:
    try:
        xml = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NUBES_NS)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            return None, None  # not one of ours
        raise
    # libvirt hands the element back with its namespace stripped: match local names.
    values = {etree.QName(child).localname: child.text for child in parse_xml(xml)}
    return values.get("id"), values.get("project")


def _to_state(dom: libvirt.virDomain) -> DomainState:
    state, max_mem, mem, vcpus, cpu_time = dom.info()
    instance_id, project_id = _metadata(dom)
    return DomainState(
        name=dom.name(),
        uuid=dom.UUIDString(),
        state=_state_name(dom, state),
        vcpus=vcpus,
        memory_kib=mem,
        max_memory_kib=max_mem,
        cpu_time_ns=cpu_time,
        persistent=bool(dom.isPersistent()),
        instance_id=instance_id,
        project_id=project_id,
    )


def domain_define(uri: str, xml: str) -> str:
    """Define (or redefine) a persistent domain; returns its UUID."""
    if is_simulated(uri):
        xml = adapt_for_test_driver(xml)
    conn = get_connection(uri)
    with translated(uri):
        return conn.defineXML(xml).UUIDString()


def domain_start(uri: str, uuid: str, *, paused: bool = False) -> None:
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED if paused else 0)


def domain_shutdown(uri: str, uuid: str, timeout: float = 60.0) -> ShutdownResult:
    """Ask the guest to power off; destroy it if it is still up after ``timeout`` seconds."""
    dom = lookup_domain(uri, uuid)
    started = time.monotonic()
    with translated(uri):
        if not dom.isActive():
            return ShutdownResult(graceful=True, waited_s=0.0)
        try:
            dom.shutdown()
        except libvirt.libvirtError as exc:
            # The guest may have gone away between the check and the request.
            if exc.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID or dom.isActive():
                raise
        deadline = started + timeout
        while dom.isActive():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                dom.destroy()
                return ShutdownResult(graceful=False, waited_s=time.monotonic() - started)
            time.sleep(min(SHUTDOWN_POLL_S, remaining))
    return ShutdownResult(graceful=True, waited_s=time.monotonic() - started)


def domain_destroy(uri: str, uuid: str) -> None:
    """Hard power-off."""
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        dom.destroy()


def domain_reboot(uri: str, uuid: str) -> None:
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        dom.reboot(0)


def domain_suspend(uri: str, uuid: str) -> None:
    """Pause the vCPUs (memory stays resident)."""
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        dom.suspend()


def domain_resume(uri: str, uuid: str) -> None:
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        dom.resume()


def domain_managed_save(uri: str, uuid: str) -> None:
    """Save memory to disk and stop; the next domain_start restores it."""
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        dom.managedSave(0)


def domain_undefine(
    uri: str, uuid: str, *, snapshots_metadata: bool = True, managed_save: bool = True, nvram: bool = True
) -> None:
    """Remove the persistent definition (a running domain becomes transient)."""
    flags = 0
    if snapshots_metadata:
        flags |= libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    if managed_save:
        flags |= libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    # The test driver rejects the NVRAM flag (it has no firmware files to remove).
    if nvram and not is_simulated(uri):
        flags |= libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        dom.undefineFlags(flags)


def domain_state(uri: str, uuid: str) -> DomainState:
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        return _to_state(dom)


def list_domains(uri: str) -> tuple[DomainState, ...]:
    """Every domain on the host, active or not, with our metadata where present."""
    conn = get_connection(uri)
    with translated(uri):
        result = []
        for dom in conn.listAllDomains(0):
            try:
                result.append(_to_state(dom))
            except libvirt.libvirtError as exc:
                # Undefined between listing and reading: skip it rather than fail the scan.
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
        return tuple(sorted(result, key=lambda s: s.name))


def _affect_flags(dom: libvirt.virDomain, live: bool, config: bool) -> int:
    # Live changes apply only to a running domain, config changes only to a persistent one.
    flags = 0
    if live and dom.isActive():
        flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
    if config and dom.isPersistent():
        flags |= libvirt.VIR_DOMAIN_AFFECT_CONFIG
    if not flags:
        raise InvalidConfig("nothing to change: domain is neither running (live) nor persistent (config)")
    return flags


def _apply(uri: str, change: Callable[[int], object], flags: int) -> None:
    # One call per target: the test driver refuses LIVE|CONFIG together, QEMU takes either.
    with translated(uri):
        for flag in (libvirt.VIR_DOMAIN_AFFECT_CONFIG, libvirt.VIR_DOMAIN_AFFECT_LIVE):
            if flags & flag:
                change(flag)


def domain_set_balloon(uri: str, uuid: str, memory_kib: int, *, live: bool = True, config: bool = True) -> None:
    """Set the balloon target (guest-visible memory), at most the domain's maximum."""
    if memory_kib <= 0:
        raise InvalidConfig("memory_kib must be positive")
    dom = lookup_domain(uri, uuid)
    _apply(uri, lambda flag: dom.setMemoryFlags(memory_kib, flag), _affect_flags(dom, live, config))


def domain_set_vcpus(uri: str, uuid: str, count: int, *, live: bool = True, config: bool = True) -> None:
    """Set the number of active vCPUs (hotplug), at most the domain's maximum."""
    if count <= 0:
        raise InvalidConfig("count must be positive")
    dom = lookup_domain(uri, uuid)
    _apply(uri, lambda flag: dom.setVcpusFlags(count, flag), _affect_flags(dom, live, config))


def domain_pin_vcpu(uri: str, uuid: str, vcpu: int, cpuset: str, *, live: bool = True, config: bool = True) -> None:
    """Pin one vCPU to host CPUs given in cpuset syntax (``"2-3"``)."""
    host_cpus = get_connection(uri).getInfo()[2]
    wanted = parse_cpuset(cpuset)
    if not wanted or max(wanted) >= host_cpus:
        raise InvalidConfig(f"cpuset {cpuset!r} is empty or beyond the host's {host_cpus} CPUs")
    cpumap = tuple(cpu in wanted for cpu in range(host_cpus))
    dom = lookup_domain(uri, uuid)
    flags = _affect_flags(dom, live, config)
    if not is_simulated(uri):
        _apply(uri, lambda flag: dom.pinVcpuFlags(vcpu, cpumap, flag), flags)
        return
    # The test driver pins running domains only, and only with flags 0 (current state);
    # the config side is simulated by rewriting the persistent definition.
    with translated(uri):
        if flags & libvirt.VIR_DOMAIN_AFFECT_LIVE:
            dom.pinVcpuFlags(vcpu, cpumap, libvirt.VIR_DOMAIN_AFFECT_CURRENT)
        if flags & libvirt.VIR_DOMAIN_AFFECT_CONFIG:
            _pin_in_config(dom, vcpu, cpuset)


def _pin_in_config(dom: libvirt.virDomain, vcpu: int, cpuset: str) -> None:
    root = parse_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE))
    cputune = root.find("cputune")
    if cputune is None:
        cputune = etree.SubElement(root, "cputune")
    for old in cputune.findall(f"vcpupin[@vcpu='{vcpu}']"):
        cputune.remove(old)
    cputune.insert(0, etree.Element("vcpupin", vcpu=str(vcpu), cpuset=cpuset))
    dom.connect().defineXML(etree.tostring(root, encoding="unicode"))


def _scheduler_parameters(uri: str, dom: libvirt.virDomain) -> tuple[str, dict[str, int]]:
    with translated(uri):
        kind = dom.schedulerType()[0]
        return kind, dom.schedulerParameters()


def domain_set_cpu_qos(uri: str, uuid: str, qos: CpuQos, *, live: bool = True, config: bool = True) -> None:
    """Apply CPU shares / CFS period / quota; fields left None are not changed.

    The test driver's scheduler ('fair') only knows 'weight', so this raises NotSupported
    there: the host reports which parameters it has, and we check before setting.
    """
    params = {name: getattr(qos, field) for field, name in _QOS_PARAMS.items() if getattr(qos, field) is not None}
    if not params:
        return
    dom = lookup_domain(uri, uuid)
    kind, known = _scheduler_parameters(uri, dom)
    missing = sorted(set(params) - set(known))
    if missing:
        raise NotSupported(
            f"the host's {kind!r} scheduler has no {', '.join(missing)} "
            f"(it offers: {', '.join(sorted(known)) or 'nothing'})",
            uri=uri,
        )
    # QEMU refuses LIVE|CONFIG in one setSchedulerParametersFlags call: one call each.
    _apply(uri, lambda flag: dom.setSchedulerParametersFlags(params, flag), _affect_flags(dom, live, config))


def domain_get_cpu_qos(uri: str, uuid: str) -> CpuQos:
    """The current CPU shares / period / quota; NotSupported where the host has none."""
    dom = lookup_domain(uri, uuid)
    kind, known = _scheduler_parameters(uri, dom)
    if not set(_QOS_PARAMS.values()) & set(known):
        raise NotSupported(f"the host's {kind!r} scheduler has no CPU QoS parameters", uri=uri)
    return CpuQos(**{field: known.get(name) for field, name in _QOS_PARAMS.items()})


def domain_xml(uri: str, uuid: str, *, inactive: bool = False, secure: bool = False) -> str:
    """The domain's XML (live unless ``inactive``; passwords only with ``secure``)."""
    flags = (libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0) | (libvirt.VIR_DOMAIN_XML_SECURE if secure else 0)
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        return dom.XMLDesc(flags)


def domain_set_metadata(uri: str, uuid: str, instance_id: str | None, project_id: str | None) -> None:
    """(Re)write our metadata element, live and in the config where they exist."""
    element = metadata_element(instance_id, project_id, namespaced=False)
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        dom.setMetadata(
            libvirt.VIR_DOMAIN_METADATA_ELEMENT,
            etree.tostring(element, encoding="unicode"),
            NUBES_PREFIX,
            NUBES_NS,
            _affect_flags(dom, True, True),
        )


DISK_ERRORS = {
    libvirt.VIR_DOMAIN_DISK_ERROR_UNSPEC: "I/O error",
    libvirt.VIR_DOMAIN_DISK_ERROR_NO_SPACE: "no space left",
}


def domain_disk_errors(uri: str, uuid: str) -> dict[str, str]:
    """The disks (target dev) whose storage failed a read or write since the domain last ran
    cleanly, and how. Simulated hosts have no storage to fail: always {}."""
    if is_simulated(uri):
        return {}
    dom = lookup_domain(uri, uuid)
    with translated(uri):
        errors = dom.diskErrors(0)
    return {dev: DISK_ERRORS.get(code, "I/O error") for dev, code in errors.items()}
