"""Plain, frozen results of the gateway. Sequences are tuples so records stay immutable."""

from __future__ import annotations

from dataclasses import dataclass

import libvirt

# Domain states as strings, so callers never see libvirt's numbers.
NOSTATE = "nostate"
RUNNING = "running"
BLOCKED = "blocked"
PAUSED = "paused"
SHUTDOWN = "shutdown"  # shutting down
SHUTOFF = "shutoff"
CRASHED = "crashed"
PMSUSPENDED = "pmsuspended"
SUSPENDED = "suspended"  # shut off with a managed save image

STATE_NAMES: dict[int, str] = {
    libvirt.VIR_DOMAIN_NOSTATE: NOSTATE,
    libvirt.VIR_DOMAIN_RUNNING: RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: BLOCKED,
    libvirt.VIR_DOMAIN_PAUSED: PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: SHUTDOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: SHUTOFF,
    libvirt.VIR_DOMAIN_CRASHED: CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: PMSUSPENDED,
}

# CPU comparison results.
CPU_INCOMPATIBLE = "incompatible"
CPU_IDENTICAL = "identical"
CPU_SUPERSET = "superset"


@dataclass(frozen=True)
class NumaCell:
    id: int
    cpus: tuple[int, ...]
    memory_kib: int


@dataclass(frozen=True)
class HostFacts:
    hostname: str
    uri: str
    simulated: bool
    cpu_model: str
    cpu_vendor: str
    cpu_features: tuple[str, ...]
    sockets: int
    cores: int  # per socket
    threads: int  # per core
    mhz: int
    cpus: int
    numa_cells: tuple[NumaCell, ...]
    memory_total_kib: int
    memory_free_kib: int
    hypervisor_type: str
    hypervisor_version: str
    libvirt_version: str
    domain_types: tuple[str, ...]
    kvm_usable: bool
    kvm_note: str


@dataclass(frozen=True)
class KvmStatus:
    usable: bool
    note: str


@dataclass(frozen=True)
class DomainState:
    name: str
    uuid: str
    state: str
    vcpus: int
    memory_kib: int
    max_memory_kib: int
    cpu_time_ns: int
    persistent: bool = True
    instance_id: str | None = None  # from our metadata, when the domain is ours
    project_id: str | None = None


@dataclass(frozen=True)
class CpuQos:
    shares: int | None = None
    period: int | None = None  # microseconds
    quota: int | None = None  # microseconds per period, -1 = unlimited


@dataclass(frozen=True)
class ShutdownResult:
    graceful: bool  # False when the guest ignored the request and was destroyed
    waited_s: float


@dataclass(frozen=True)
class PoolInfo:
    name: str
    uuid: str
    type: str
    active: bool
    persistent: bool
    autostart: bool
    capacity_bytes: int
    allocation_bytes: int
    available_bytes: int
    path: str | None


@dataclass(frozen=True)
class VolumeInfo:
    name: str
    pool: str
    key: str
    path: str
    capacity_bytes: int
    allocation_bytes: int
    format: str | None
    backing_path: str | None
    backing_format: str | None


@dataclass(frozen=True)
class SnapshotInfo:
    name: str
    parent: str | None
    current: bool
    creation_time: int  # seconds since the epoch
    state: str  # the domain state captured: 'running', 'shutoff', 'disk-snapshot', ...
    description: str | None
    external: bool


@dataclass(frozen=True)
class DomainStats:
    uuid: str
    name: str
    state: str
    timestamp: float
    simulated: bool
    cpu_time_ns: int | None = None
    vcpus: int | None = None
    balloon_current_kib: int | None = None
    balloon_available_kib: int | None = None
    balloon_unused_kib: int | None = None
    balloon_rss_kib: int | None = None
    net_rx_bytes: int | None = None
    net_tx_bytes: int | None = None
    net_rx_packets: int | None = None
    net_tx_packets: int | None = None
    block_rd_bytes: int | None = None
    block_wr_bytes: int | None = None
    block_rd_reqs: int | None = None
    block_wr_reqs: int | None = None


@dataclass(frozen=True)
class NodeStats:
    timestamp: float
    simulated: bool
    cpus: int
    cpu_user_ns: int
    cpu_kernel_ns: int
    cpu_idle_ns: int
    cpu_iowait_ns: int
    memory_total_kib: int
    memory_free_kib: int
