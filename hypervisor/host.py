"""Host facts and CPU model work (baselines and comparisons for EVC / migration checks)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

import libvirt
from lxml import etree

from .connection import get_connection, is_local, is_simulated
from .domain_read import parse_xml, scaled_int
from .errors import InvalidConfig, NotSupported, from_libvirt_error, translated
from .types import (
    CPU_IDENTICAL,
    CPU_INCOMPATIBLE,
    CPU_SUPERSET,
    HostFacts,
    KvmStatus,
    NumaCell,
)

# Demo node files may carry <nubes:cpu> with a CPU model: the test driver has none of its
# own, and the scheduler's EVC needs distinct models to be worth demonstrating.
NODE_NS = "https://nubes.dev/xmlns/node/1"
TRUST_KVM_ENV = "NUBES_TRUST_KVM"
T = TypeVar("T")

_COMPARE_RESULTS = {
    libvirt.VIR_CPU_COMPARE_INCOMPATIBLE: CPU_INCOMPATIBLE,
    libvirt.VIR_CPU_COMPARE_IDENTICAL: CPU_IDENTICAL,
    libvirt.VIR_CPU_COMPARE_SUPERSET: CPU_SUPERSET,
}


def _version(number: int) -> str:
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def _node_file_cpu(uri: str) -> etree._Element | None:
    """The <nubes:cpu> of a test:///path/node.xml host, if the file declares one."""
    path = urlsplit(uri).path
    if not path.endswith(".xml") or not os.path.isfile(path):
        return None
    return etree.parse(path).getroot().find(f"{{{NODE_NS}}}cpu")


def _simulated_cpu_xml(uri: str, caps: etree._Element) -> str:
    declared = _node_file_cpu(uri)
    if declared is None:
        return etree.tostring(caps.find("host/cpu"), encoding="unicode")
    cpu = etree.Element("cpu")
    etree.SubElement(cpu, "arch").text = "x86_64"
    etree.SubElement(cpu, "model").text = declared.findtext(f"{{{NODE_NS}}}model")
    etree.SubElement(cpu, "vendor").text = declared.findtext(f"{{{NODE_NS}}}vendor")
    for feature in declared.iterfind(f"{{{NODE_NS}}}feature"):
        etree.SubElement(cpu, "feature", name=feature.get("name", ""))
    return etree.tostring(cpu, encoding="unicode")


def _kvm_status(simulated: bool, domain_types: tuple[str, ...], uri: str) -> KvmStatus:
    # libvirt lists 'kvm' wherever /dev/kvm opens, yet on our paravirtualised build hosts a
    # kvm guest shows "running" and never executes (REALITY.md). A real probe would mean
    # booting a guest; instead we distrust KVM unless an operator vouches for it.
    if simulated:
        return KvmStatus(False, "simulated host (libvirt test driver): guests do not run")
    if "kvm" not in domain_types:
        return KvmStatus(False, "libvirt offers no 'kvm' domain type here; use 'qemu' (TCG)")
    if is_local(uri) and not os.path.exists("/dev/kvm"):
        return KvmStatus(False, "/dev/kvm is missing on this machine; use 'qemu' (TCG)")
    if os.environ.get(TRUST_KVM_ENV) == "1":
        return KvmStatus(True, f"trusted because {TRUST_KVM_ENV}=1")
    return KvmStatus(
        False,
        "KVM is listed but not trusted: on nested/paravirtual hosts "
        "guests appear to run but never execute; using 'qemu' (TCG). "
        f"Set {TRUST_KVM_ENV}=1 once a kvm guest is seen booting.",
    )


def kvm_usable(uri: str) -> KvmStatus:
    """Whether guests of type 'kvm' should be defined on this host, and why (not)."""
    simulated = is_simulated(uri)
    conn = get_connection(uri)
    with translated(uri):
        caps = parse_xml(conn.getCapabilities())
    return _kvm_status(simulated, _domain_types(caps), uri)


def _domain_types(caps: etree._Element) -> tuple[str, ...]:
    return tuple(sorted({d.get("type") for d in caps.iterfind("guest/arch/domain")}))


def _numa_cells(caps: etree._Element, nodes: int, cpus: int, memory_kib: int) -> tuple[NumaCell, ...]:
    cells = tuple(
        NumaCell(
            id=int(cell.get("id")),
            cpus=tuple(sorted(int(c.get("id")) for c in cell.iterfind("cpus/cpu"))),
            memory_kib=scaled_int(cell.find("memory"), "KiB") or 0,
        )
        for cell in caps.iterfind("host/topology/cells/cell")
    )
    if cells or nodes < 1:
        return cells
    # Node files declare only a node count: split CPUs and memory evenly, like a real box.
    per_node = cpus // nodes
    return tuple(
        NumaCell(id=n, cpus=tuple(range(n * per_node, (n + 1) * per_node)), memory_kib=memory_kib // nodes)
        for n in range(nodes)
    )


def _simulated_free_kib(conn: libvirt.virConnect, total_kib: int) -> int:
    # The test driver reports 0 free for node files: derive it from the running guests.
    used = sum(dom.info()[2] for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE))
    return max(total_kib - used, 0)


def host_ping(uri: str) -> None:
    """Does the host's libvirt answer now? One open attempt, no backoff (the caller's probes
    are the retries: HA counts the seconds a host stays silent). HostUnreachable if not."""
    conn = get_connection(uri, attempts=1)
    with translated(uri):
        conn.getLibVersion()


def host_facts(uri: str) -> HostFacts:
    """What the scheduler and the admin console need to know about a host."""
    simulated = is_simulated(uri)
    conn = get_connection(uri)
    with translated(uri):
        _model, memory_mib, cpus, mhz, nodes, sockets, cores, threads = conn.getInfo()
        caps = parse_xml(conn.getCapabilities())
        hostname = conn.getHostname()
        hv_type, hv_version, lib_version = conn.getType(), conn.getVersion(), conn.getLibVersion()
        total_kib = memory_mib * 1024
        if simulated:
            free_kib = _simulated_free_kib(conn, total_kib)
        else:
            total_kib = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)["total"]
            free_kib = conn.getFreeMemory() // 1024
    if simulated and urlsplit(uri).path.endswith(".xml"):
        # Every test-driver host calls itself 'vm'; the node file's name tells them apart.
        hostname = os.path.splitext(os.path.basename(urlsplit(uri).path))[0]
    cpu = parse_xml(_simulated_cpu_xml(uri, caps)) if simulated else caps.find("host/cpu")
    domain_types = _domain_types(caps)
    kvm = _kvm_status(simulated, domain_types, uri)
    return HostFacts(
        hostname=hostname,
        uri=uri,
        simulated=simulated,
        cpu_model=cpu.findtext("model") or "",
        cpu_vendor=cpu.findtext("vendor") or "",
        cpu_features=tuple(sorted(f.get("name") for f in cpu.iterfind("feature"))),
        sockets=nodes * sockets,
        cores=cores,
        threads=threads,
        mhz=mhz,
        cpus=cpus,
        numa_cells=_numa_cells(caps, nodes, cpus, total_kib),
        memory_total_kib=total_kib,
        memory_free_kib=free_kib,
        hypervisor_type=hv_type,
        hypervisor_version=_version(hv_version),
        libvirt_version=_version(lib_version),
        domain_types=domain_types,
        kvm_usable=kvm.usable,
        kvm_note=kvm.note,
    )


def host_cpu_xml(uri: str) -> str:
    """The host's CPU as ``<cpu>`` XML, the input for cpu_baseline on other hosts."""
    conn = get_connection(uri)
    with translated(uri):
        caps = parse_xml(conn.getCapabilities())
    if is_simulated(uri):
        return _simulated_cpu_xml(uri, caps)
    return etree.tostring(caps.find("host/cpu"), encoding="unicode")


def cpu_baseline(uri: str, cpu_xmls: list[str], *, expand_features: bool = False) -> str:
    """The newest guest CPU every given host CPU can run (a cluster's EVC baseline)."""
    if not cpu_xmls:
        raise InvalidConfig("cpu_baseline needs at least one CPU")
    flags = libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES if expand_features else 0
    conn = get_connection(uri)
    return _with_fallback(
        uri,
        lambda: conn.baselineHypervisorCPU(None, None, None, None, cpu_xmls, flags),
        lambda: conn.baselineCPU(cpu_xmls, flags),
    )


def _with_fallback(uri: str, modern: Callable[[], T], legacy: Callable[[], T]) -> T:
    """Call the hypervisor-aware API; fall back to the legacy one where it is unsupported."""
    try:
        return modern()
    except libvirt.libvirtError as exc:
        error = from_libvirt_error(exc, uri)
        if not isinstance(error, NotSupported):
            raise error from exc
    # Older daemons and the test driver only have the host-independent variant.
    with translated(uri):
        return legacy()


def _expanded_features(conn: libvirt.virConnect, cpu: etree._Element) -> set[str]:
    xml = conn.baselineCPU([etree.tostring(cpu, encoding="unicode")], libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES)
    return {f.get("name") for f in parse_xml(xml).iterfind("feature[@policy='require']")}


def _as_host_cpu(guest: etree._Element, default_vendor: str) -> etree._Element:
    # baselineCPU refuses guest-only attributes (mode, match, policy); rebuild plainly.
    cpu = etree.Element("cpu")
    etree.SubElement(cpu, "arch").text = "x86_64"
    etree.SubElement(cpu, "model").text = guest.findtext("model")
    etree.SubElement(cpu, "vendor").text = guest.findtext("vendor") or default_vendor
    for feature in guest.iterfind("feature"):
        if feature.get("policy", "require") in ("require", "force"):
            etree.SubElement(cpu, "feature", name=feature.get("name", ""))
    return cpu


def _simulated_compare(uri: str, conn: libvirt.virConnect, cpu_xml: str) -> str:
    # The test driver cannot compare, but its baselineCPU knows libvirt's CPU map: expand
    # both CPUs to feature sets and compare those.
    guest = parse_xml(cpu_xml)
    if guest.get("mode") in ("host-model", "host-passthrough"):
        return CPU_IDENTICAL
    if not guest.findtext("model"):
        raise InvalidConfig("a custom CPU to compare needs a <model>")
    host = parse_xml(host_cpu_xml(uri))
    if not host.findtext("model"):
        raise NotSupported("this simulated host declares no CPU model to compare with", uri=uri)
    host_vendor = host.findtext("vendor") or ""
    if guest.findtext("vendor") not in (None, host_vendor):
        return CPU_INCOMPATIBLE
    with translated(uri):
        host_features = _expanded_features(conn, host)
        guest_features = _expanded_features(conn, _as_host_cpu(guest, host_vendor))
    if not guest_features <= host_features:
        return CPU_INCOMPATIBLE
    return CPU_IDENTICAL if guest_features == host_features else CPU_SUPERSET


def cpu_compare(uri: str, cpu_xml: str, virttype: str | None = None) -> str:
    """Can this host run a guest with ``cpu_xml``? 'identical', 'superset' or 'incompatible'.

    ``virttype`` is the guest's domain type ('kvm' or 'qemu'): a TCG guest's CPU is judged
    against what QEMU emulates, not what KVM offers (libvirt's default), or the same CPU on
    the same hardware is called incompatible.

    On simulated hosts libvirt cannot compare; the answer comes from comparing the feature
    sets libvirt's CPU map gives both models (see _simulated_compare).
    """
    conn = get_connection(uri)
    if is_simulated(uri):
        return _simulated_compare(uri, conn, cpu_xml)
    result = _with_fallback(
        uri,
        lambda: conn.compareHypervisorCPU(None, None, None, virttype, cpu_xml, 0),
        lambda: conn.compareCPU(cpu_xml, 0),
    )
    return _COMPARE_RESULTS.get(result, CPU_INCOMPATIBLE)
