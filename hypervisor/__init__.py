"""Nubes' one gateway to libvirt: plain Python, no Django.

Every verb takes a host URI and plain values, returns frozen dataclasses (``types.py``) or
strings, and raises only ``errors.HypervisorError`` subclasses. Accepted URIs:
``test:///default``, ``test:///abs/path/node.xml`` (simulated hosts; demo nodes in
``hypervisor/nodes/``), ``qemu:///system``, ``qemu+ssh://``, ``qemu+tcp://``, ``qemu+tls://``.
Call it from services.py / tasks.py only. Domains are addressed by UUID string, pools and
volumes by name.

Connections (connection.py) — one pooled connection per URI per process
    get_connection(uri) -> libvirt.virConnect      # internal use by the gateway
    is_simulated(uri) -> bool                       # True for test:// hosts
    is_local(uri) -> bool                           # the URI names no machine: this one (the one test)
    close_all() -> None                             # tests: fresh simulated hosts

Domain XML (domain_xml.py builds, domain_read.py reads)
    build_domain_xml(spec: DomainSpec) -> str       # DiskSpec, NicSpec, HostdevSpec, VcpuPin,
                                                    # CpuFeature, NumaCellSpec
    parse_domain_xml(xml: str) -> DomainXmlInfo
    parse_cpuset(cpuset: str) -> frozenset[int]
    set_vnc_listen(xml, address) -> str             # a migration target's VNC address

Domains (domains.py)
    domain_define(uri, xml) -> uuid                 # test:// hosts: type rewritten to 'test'
    domain_start(uri, uuid, *, paused=False)
    domain_shutdown(uri, uuid, timeout=60.0) -> ShutdownResult   # graceful, then destroy
    domain_destroy / domain_reboot / domain_suspend / domain_resume /
        domain_managed_save(uri, uuid)
    domain_undefine(uri, uuid, *, snapshots_metadata=True, managed_save=True, nvram=True)
    domain_state(uri, uuid) -> DomainState          # state: types.RUNNING, SHUTOFF, ...
    list_domains(uri) -> tuple[DomainState, ...]    # with instance_id/project_id metadata
    domain_set_balloon(uri, uuid, memory_kib, *, live=True, config=True)
    domain_set_vcpus(uri, uuid, count, *, live=True, config=True)
    domain_pin_vcpu(uri, uuid, vcpu, cpuset: str, *, live=True, config=True)
    domain_set_cpu_qos(uri, uuid, qos: CpuQos, *, live=True, config=True)
    domain_get_cpu_qos(uri, uuid) -> CpuQos         # both NotSupported on test:// hosts
    domain_xml(uri, uuid, *, inactive=False, secure=False) -> str
    domain_disk_errors(uri, uuid) -> {target dev: 'I/O error' | 'no space left'}
    domain_set_metadata(uri, uuid, instance_id, project_id)

Host (host.py)
    host_facts(uri) -> HostFacts
    host_ping(uri)                                  # one open attempt; HostUnreachable if silent
    kvm_usable(uri) -> KvmStatus                    # False unless NUBES_TRUST_KVM=1
    host_cpu_xml(uri) -> str
    cpu_baseline(uri, cpu_xmls: list[str], *, expand_features=False) -> str
    cpu_compare(uri, cpu_xml, virttype=None) -> 'identical' | 'superset' | 'incompatible'

Storage (storage.py)
    pool_define(uri, spec: PoolSpec) -> PoolInfo    # dir, netfs, logical, iscsi(-direct), rbd, disk
    pool_define_dir(uri, name, path) -> PoolInfo
    pool_start(uri, name, *, build=False, autostart=True) -> PoolInfo
    pool_refresh(uri, name) -> PoolInfo;  pool_info(uri, name) -> PoolInfo
    pool_probe(uri, name) (a LUN pool's array asked now, through a transient copy of the pool)
    pool_stop(uri, name);  pool_delete(uri, name, *, delete_data=False)
    list_pools(uri) -> tuple[PoolInfo, ...]
    volume_create(uri, pool, name, capacity_bytes, fmt='qcow2', *, allocation_bytes=None,
                  backing_path=None, backing_format=None) -> VolumeInfo
    volume_clone(uri, pool, source, name, *, fmt=None) -> VolumeInfo
    volume_delete(uri, pool, name, *, wipe=False);  volume_delete_path(uri, path)  # any pool
    volume_probe(uri, path)                         # raises when the storage does not answer
    volume_info(uri, pool, name) -> VolumeInfo;  list_volumes(uri, pool) -> tuple[VolumeInfo, ...]

Snapshots (snapshots.py)
    snapshot_create(uri, uuid, name, description=None, *, disk_only=False,
                    with_memory=True) -> SnapshotInfo
    snapshot_list(uri, uuid) -> tuple[SnapshotInfo, ...]
    snapshot_revert(uri, uuid, name, *, running: bool | None = None)
    snapshot_delete(uri, uuid, name, *, children=False, metadata_only=False)

Disks (disks.py) — test:// hosts simulate what the test driver lacks (simulated=True)
    build_disk_xml(disk: DiskSpec) -> str
    disk_attach(uri, uuid, disk, *, live=True) -> DiskChange;  disk_detach(uri, uuid, dev, *, live=True)
    disk_set_source(uri, uuid, dev, path) -> simulated;  disk_resize(uri, uuid, dev, bytes) -> simulated
    disk_snapshot_external(uri, uuid, dev, overlay_path, *, quiesce=False)   # real hosts
    disks_snapshot_external(uri, uuid, {dev: overlay}, *, quiesce=False) -> DiskChange  # all at once
    domain_has_guest_agent(uri, uuid) -> bool       # the org.qemu.guest_agent.0 channel
    domain_fstrim(uri, uuid)                        # GuestAgentUnavailable without an agent
    volume_resize / volume_rebase / volume_copy / pool_volume_path

Offline chains (offline.py) — qemu-img run here for qemu:///system|session; on a remote host
block jobs of a paused transient helper domain (offline_domain.py); test:// hosts raise NotSupported
    image_info(uri, path) -> ImageInfo;  backing_chain(uri, path) -> tuple[str, ...]   # local only
    image_commit(uri, top_path, *, overlay_path=None) -> base path   # overlay repointed at the base
    image_rebase(uri, path, backing, *, unsafe=False)                # unsafe: local only
    image_copy_layer(uri, source_path, dest_path, backing_path);  offline_how(uri, verb) -> str

Volume streams (volume_stream.py) — virStorageVolUpload / Download; an in-process store on test://
    volume_upload_into(uri, pool, name, chunks, total, *, on_progress) -> StreamResult
    volume_download(uri, pool, name, *, on_progress) -> Iterator[bytes];  volume_download_size(...)

Block jobs (blockjobs.py) — modelled progress on test:// hosts
    block_commit(uri, uuid, dev, *, top_path, base_path, active);  block_pull(uri, uuid, dev, *, base_path)
    block_copy(uri, uuid, dev, dest_path, *, fmt, shallow);  block_job(uri, uuid, dev) -> BlockJob | None
    block_job_abort(uri, uuid, dev, *, pivot=False)

Serial logs (serial_log.py) — a domain's serial log read over libvirt (a transient dir pool
over its directory, virStorageVolDownload of a byte range): remote hosts' consoles
    serial_log_size(uri, path) -> int | None;  serial_log_read(uri, path, offset, length) -> bytes
    serial_log_remove(uri, path) -> bool (deleted; False when there was none)

Serial console input (serial_console.py) — virDomainOpenConsole's stream, on every real host
    console_open(uri, uuid) -> ConsoleWriter        # .send(bytes), .drain() -> int, .close();
                                                    # ConsoleClosed once another client takes it

Host memory (hostmem.py) — KSM and swap from local /sys and /proc; KSM counters and tuning over libvirt
    host_memory(uri, *, sys_root=, proc_root=) -> HostMemory      # readable=False elsewhere
    ksm_set_run(uri, run: 0 | 1 | 2, *, sys_root=)                 # NotSupported elsewhere
    ksm_tune(uri, {pages_to_scan|sleep_millisecs|merge_across_nodes: int})  # any real host, libvirt

Memory hotplug (memory.py) — test:// hosts edit the definition (simulated=True)
    build_memory_xml(size_kib, node) -> str          # <memory model='dimm'>
    domain_attach_memory(uri, uuid, size_kib, node=0) -> MemoryChange

Volume data (volumes_io.py) — test:// hosts record the size only (simulated=True)
    volume_upload(uri, pool, name, source_path, *, fmt, on_progress(sent, total)) -> UploadResult
    volume_create_streamed(uri, pool, name, chunks, size, *, capacity, fmt, on_progress) -> UploadResult
    volume_create_from_bytes(uri, pool, name, data, *, fmt='raw') -> UploadResult   # seeds
    volume_copy_across(src_uri, src_pool, name, dst_uri, dst_pool, *, on_progress) -> UploadResult
    # a failed upload removes the volume it created (the error says so when it could not)

Events (events.py)
    watch_lifecycle(uri, callback(uri, uuid, event, detail)) -> watch_id
    unwatch_lifecycle(uri, watch_id)

Statistics (stats.py)
    bulk_domain_stats(uri, at: float | None = None) -> tuple[DomainStats, ...]
    node_stats(uri, at: float | None = None) -> NodeStats
    # test:// hosts: counters from the seeded workload model (workload.py), simulated=True

Migration (migration.py) — real hosts: migrate3 + jobStats polling; test:// hosts: simulated
    migrate_domain(src_uri, dst_uri, uuid, MigrationOptions, on_progress(MigrationProgress),
                   control: MigrationControl | None = None) -> MigrationResult
    # MigrationControl.cancel / .switch_to_postcopy are threading.Events the caller sets;
    # a cancelled job raises MigrationCancelled and the domain keeps running on the source
    migration_flags(options) -> int;  migration_params(options) -> dict

Guest agent (guest_agent.py) — libvirt_qemu.qemuAgentCommand over the org.qemu.guest_agent.0
channel every built domain has (DomainSpec.guest_agent); test:// hosts raise GuestAgentUnavailable
    guest_ping(uri, uuid, *, timeout=10);  guest_info(uri, uuid) -> dict
    run_script(uri, uuid, script, arguments: dict, *, allowed, timeout=60.0) -> ScriptResult
        # /usr/lib/nubes-agent/<script> (allow-listed name), arguments as JSON on stdin,
        # guest-exec-status polled; GuestScriptFailed on a non-zero exit
    guest_file_read(uri, uuid, path, *, allowed_prefixes, offset=0, max_bytes=65536) -> FileChunk
    guest_fsfreeze / guest_fsthaw(uri, uuid) -> count;  guest_fsfreeze_status -> 'thawed'|'frozen'
    guest_fstrim(uri, uuid, *, minimum=0) -> TrimResult
    errors: GuestAgentError > GuestAgentUnavailable (also NotSupported), GuestAgentTimeout,
            GuestCommandFailed, GuestScriptFailed

Errors (errors.py): HypervisorError > HostUnreachable, DomainNotFound, PoolNotFound,
VolumeNotFound, SnapshotNotFound, NotSupported, InvalidConfig, OperationFailed.
"""

from .blockjobs import (
    BlockJob,
    block_commit,
    block_copy,
    block_job,
    block_job_abort,
    block_pull,
    forget_simulated_jobs,
)
from .connection import close_all, get_connection, is_local, is_simulated
from .disks import (
    DiskChange,
    GuestAgentUnavailable,
    build_disk_xml,
    build_disks_snapshot_xml,
    disk_attach,
    disk_detach,
    disk_resize,
    disk_set_source,
    disk_snapshot_external,
    disks_snapshot_external,
    domain_fstrim,
    domain_has_guest_agent,
    pool_volume_path,
    volume_copy,
    volume_rebase,
    volume_resize,
)
from .domain_read import DomainXmlInfo, parse_domain_xml, set_vnc_listen
from .domain_xml import (
    CpuFeature,
    DiskSpec,
    DomainSpec,
    HostdevSpec,
    NicSpec,
    NumaCellSpec,
    VcpuPin,
    build_domain_xml,
    parse_cpuset,
)
from .domains import (
    domain_define,
    domain_destroy,
    domain_disk_errors,
    domain_get_cpu_qos,
    domain_managed_save,
    domain_pin_vcpu,
    domain_reboot,
    domain_resume,
    domain_set_balloon,
    domain_set_cpu_qos,
    domain_set_metadata,
    domain_set_vcpus,
    domain_shutdown,
    domain_start,
    domain_state,
    domain_suspend,
    domain_undefine,
    domain_xml,
    list_domains,
)
from .errors import (
    DomainNotFound,
    HostUnreachable,
    HypervisorError,
    InvalidConfig,
    NotSupported,
    OperationFailed,
    PoolNotFound,
    SnapshotNotFound,
    VolumeNotFound,
)
from .events import unwatch_lifecycle, watch_lifecycle
from .guest_agent import (
    FileChunk,
    GuestAgentError,
    GuestAgentTimeout,
    GuestCommandFailed,
    GuestScriptFailed,
    ScriptResult,
    TrimResult,
    guest_file_read,
    guest_fsfreeze,
    guest_fsfreeze_status,
    guest_fsthaw,
    guest_fstrim,
    guest_info,
    guest_ping,
    run_script,
)
from .host import cpu_baseline, cpu_compare, host_cpu_xml, host_facts, host_ping, kvm_usable
from .hostmem import KSM_LIMITS, KSM_RUN, KSM_STOP, KSM_UNMERGE, HostMemory, host_memory, ksm_set_run, ksm_tune
from .memory import MemoryChange, build_memory_xml, domain_attach_memory
from .migration import (
    MigrationCancelled,
    MigrationControl,
    MigrationOptions,
    MigrationProgress,
    MigrationResult,
    abort_domain_job,
    migrate_domain,
    migration_flags,
    migration_params,
)
from .offline import (
    ImageInfo,
    backing_chain,
    image_commit,
    image_copy_layer,
    image_info,
    image_rebase,
    offline_how,
)
from .serial_console import ConsoleClosed, ConsoleWriter, console_open
from .serial_log import POOL_PREFIX as SERIAL_LOG_POOL_PREFIX
from .serial_log import serial_log_read, serial_log_remove, serial_log_size
from .snapshots import snapshot_create, snapshot_delete, snapshot_list, snapshot_revert
from .stats import bulk_domain_stats, node_stats
from .storage import (
    LUN_POOL_TYPES,
    PoolSpec,
    list_pools,
    list_volumes,
    pool_define,
    pool_define_dir,
    pool_delete,
    pool_info,
    pool_probe,
    pool_refresh,
    pool_start,
    pool_stop,
    volume_clone,
    volume_create,
    volume_delete,
    volume_delete_path,
    volume_info,
    volume_probe,
)
from .types import (
    CpuQos,
    DomainState,
    DomainStats,
    HostFacts,
    KvmStatus,
    NodeStats,
    NumaCell,
    PoolInfo,
    ShutdownResult,
    SnapshotInfo,
    VolumeInfo,
)
from .volume_stream import (
    StreamResult,
    forget_simulated_data,
    volume_download,
    volume_download_size,
    volume_upload_into,
)
from .volumes_io import (
    UploadResult,
    volume_copy_across,
    volume_create_from_bytes,
    volume_create_streamed,
    volume_upload,
)

__all__ = [
    "BlockJob",
    "block_commit",
    "block_copy",
    "block_job",
    "block_job_abort",
    "block_pull",
    "forget_simulated_jobs",
    "DiskChange",
    "GuestAgentUnavailable",
    "build_disk_xml",
    "disk_attach",
    "disk_detach",
    "disk_resize",
    "disk_set_source",
    "disk_snapshot_external",
    "disks_snapshot_external",
    "domain_fstrim",
    "domain_has_guest_agent",
    "build_disks_snapshot_xml",
    "pool_volume_path",
    "volume_copy",
    "volume_rebase",
    "volume_resize",
    "close_all",
    "get_connection",
    "is_local",
    "is_simulated",
    "CpuFeature",
    "DiskSpec",
    "DomainSpec",
    "DomainXmlInfo",
    "HostdevSpec",
    "NicSpec",
    "NumaCellSpec",
    "VcpuPin",
    "build_domain_xml",
    "parse_cpuset",
    "parse_domain_xml",
    "set_vnc_listen",
    "domain_define",
    "domain_destroy",
    "domain_get_cpu_qos",
    "domain_managed_save",
    "domain_pin_vcpu",
    "domain_reboot",
    "domain_disk_errors",
    "domain_resume",
    "domain_set_balloon",
    "domain_set_cpu_qos",
    "domain_set_metadata",
    "domain_set_vcpus",
    "domain_shutdown",
    "domain_start",
    "domain_state",
    "domain_suspend",
    "domain_undefine",
    "domain_xml",
    "list_domains",
    "DomainNotFound",
    "HostUnreachable",
    "HypervisorError",
    "InvalidConfig",
    "NotSupported",
    "OperationFailed",
    "PoolNotFound",
    "SnapshotNotFound",
    "VolumeNotFound",
    "unwatch_lifecycle",
    "FileChunk",
    "GuestAgentError",
    "GuestAgentTimeout",
    "GuestCommandFailed",
    "GuestScriptFailed",
    "ScriptResult",
    "TrimResult",
    "guest_file_read",
    "guest_fsfreeze",
    "guest_fsfreeze_status",
    "guest_fsthaw",
    "guest_fstrim",
    "guest_info",
    "guest_ping",
    "run_script",
    "watch_lifecycle",
    "StreamResult",
    "forget_simulated_data",
    "volume_download",
    "volume_download_size",
    "volume_upload_into",
    "ImageInfo",
    "backing_chain",
    "image_commit",
    "image_copy_layer",
    "image_info",
    "image_rebase",
    "offline_how",
    "KSM_RUN",
    "KSM_STOP",
    "KSM_UNMERGE",
    "HostMemory",
    "host_memory",
    "ksm_set_run",
    "serial_log_read",
    "serial_log_remove",
    "console_open",
    "ConsoleClosed",
    "ConsoleWriter",
    "serial_log_size",
    "SERIAL_LOG_POOL_PREFIX",
    "ksm_tune",
    "KSM_LIMITS",
    "MemoryChange",
    "build_memory_xml",
    "domain_attach_memory",
    "UploadResult",
    "volume_upload",
    "volume_create_from_bytes",
    "volume_create_streamed",
    "volume_copy_across",
    "cpu_baseline",
    "cpu_compare",
    "host_cpu_xml",
    "host_facts",
    "host_ping",
    "kvm_usable",
    "snapshot_create",
    "snapshot_delete",
    "snapshot_list",
    "snapshot_revert",
    "bulk_domain_stats",
    "node_stats",
    "MigrationCancelled",
    "MigrationControl",
    "MigrationOptions",
    "MigrationProgress",
    "MigrationResult",
    "abort_domain_job",
    "migrate_domain",
    "migration_flags",
    "migration_params",
    "LUN_POOL_TYPES",
    "PoolSpec",
    "list_pools",
    "list_volumes",
    "pool_define",
    "pool_define_dir",
    "pool_delete",
    "pool_info",
    "pool_probe",
    "pool_refresh",
    "pool_start",
    "pool_stop",
    "volume_clone",
    "volume_create",
    "volume_delete",
    "volume_delete_path",
    "volume_probe",
    "volume_info",
    "CpuQos",
    "DomainState",
    "DomainStats",
    "HostFacts",
    "KvmStatus",
    "NodeStats",
    "NumaCell",
    "PoolInfo",
    "ShutdownResult",
    "SnapshotInfo",
    "VolumeInfo",
]
