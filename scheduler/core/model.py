"""The snapshot of cluster state the scheduler decides over, and its named constants.

Plain data classes, no Django: the scheduler app builds a `Snapshot` from its models, the
simulator builds one from traces, the tests build one by hand. Everything the decision
functions return (moves, power actions) is data too; compute's services act on it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# --- named constants -----------------------------------------------------------------------


class HostPowerState(enum.StrEnum):
    UP = "up"
    MAINTENANCE = "maintenance"
    STANDBY = "standby"
    DOWN = "down"
    ERROR = "error"
    WAKING = "waking"  # asked to leave standby, not up yet: DPM counts it as coming


class RuleKind(enum.StrEnum):
    VM_AFFINITY = "vm-affinity"  # the instances run on one host
    VM_ANTI_AFFINITY = "vm-anti-affinity"  # the instances run on different hosts
    VM_HOST_AFFINITY = "vm-host-affinity"  # the instances run on one of the hosts
    VM_HOST_ANTI_AFFINITY = "vm-host-anti-affinity"  # the instances run on none of them


class RuleStrength(enum.StrEnum):
    MUST = "must"  # a filter: never broken by placement, fixed first by DRS
    SHOULD = "should"  # a weigher: preferred, fixed by DRS when a host allows it


class ServerGroupPolicy(enum.StrEnum):
    """Nova's server group policies, turned into rules by `rules_from_server_groups`."""

    AFFINITY = "affinity"
    ANTI_AFFINITY = "anti-affinity"
    SOFT_AFFINITY = "soft-affinity"
    SOFT_ANTI_AFFINITY = "soft-anti-affinity"


class HaPriority(enum.IntEnum):
    """Restart order after a host failure: higher first. DISABLED instances are not restarted."""

    DISABLED = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3


class HaAdmissionPolicy(enum.StrEnum):
    DISABLED = "disabled"
    HOST_FAILURES = "host-failures"  # keep room to restart everything after N host failures
    PERCENTAGE = "percentage"  # keep a share of CPU and memory free


class DrsAutomation(enum.StrEnum):
    MANUAL = "manual"  # recommendations only
    PARTIALLY_AUTOMATED = "partial"  # initial placement automatic, migrations recommended
    FULLY_AUTOMATED = "full"  # migrations executed


class DemandEstimator(enum.StrEnum):
    """How a demand history becomes one figure. LAST is the naive single sample (tests only)."""

    PERCENTILE = "percentile"
    EWMA = "ewma"
    LAST = "last"


class PlacementStrategy(enum.StrEnum):
    SPREAD = "spread"  # prefer the emptiest host
    PACK = "pack"  # prefer the fullest host that fits


class FilterName(enum.StrEnum):
    HOST_STATE = "host-state"
    CPU_COMPATIBILITY = "cpu-compatibility"
    REQUIRED_TAGS = "required-tags"
    REACHABILITY = "reachability"
    RULES = "rules"
    NUMA_PINNING = "numa-pinning"
    VCPU = "vcpu"
    MEMORY = "memory"
    DISK = "disk"
    CPU_RESERVATION = "cpu-reservation"
    CPU_DEMAND = "cpu-demand"


class WeigherName(enum.StrEnum):
    FREE_RAM = "free-ram"
    CPU_LOAD = "cpu-load"
    INSTANCE_COUNT = "instance-count"
    SOFT_RULES = "soft-rules"


class MoveReason(enum.StrEnum):
    RULE = "rule"  # fixes a rule violation
    OVERLOAD = "overload"  # relieves a host whose demand exceeds its capacity
    BALANCE = "balance"  # lowers the imbalance
    EVACUATE = "evacuate"  # empties a host for standby (DPM) or maintenance
    RESTART = "restart"  # HA restart of an instance of a failed host


class PowerActionKind(enum.StrEnum):
    STANDBY = "standby"
    WAKE = "wake"


# Defaults of the cluster policy; vSphere's and Nova's where they have one.
DEFAULT_CPU_OVERCOMMIT = 4.0
DEFAULT_RAM_OVERCOMMIT = 1.0
DEFAULT_DISK_OVERCOMMIT = 1.0
DRS_THRESHOLD_MIN = 1
DRS_THRESHOLD_MAX = 5
DEFAULT_DRS_THRESHOLD = 3
DEFAULT_DRS_INTERVAL_S = 300
DEFAULT_DPM_TARGET_LOW = 0.45  # vSphere: 63 % +- 18 %
DEFAULT_DPM_TARGET_HIGH = 0.81
DEFAULT_MIN_HOSTS_ON = 1
SAMPLE_INTERVAL_S = 300
DEFAULT_DEMAND_WINDOW = 12  # samples: one hour at 300 s
DEFAULT_DEMAND_PERCENTILE = 80.0
DEFAULT_DPM_STANDBY_WINDOW = 24  # samples: 2 h of demand judge a standby, 1 h a wake
DEFAULT_DPM_STANDBY_LOOKAHEAD = 6  # samples: the trend must not need the host for 30 min
DEFAULT_EWMA_ALPHA = 0.3
DEFAULT_HYSTERESIS_S = 3600.0  # a migrated instance is not balanced again for an hour
DEFAULT_MIGRATION_BANDWIDTH_MB_S = 62.5  # half of 1 Gbit/s
DEFAULT_HA_MIN_CPU_MHZ = 32.0  # vSphere's default CPU share of an instance without reservation
DEFAULT_RESTART_LIMIT = 3
DEFAULT_RESTART_WINDOW_S = 3600.0
POWER_CURVE_POINTS = 11  # watts at 0 %, 10 %, ... 100 % CPU


@dataclass(frozen=True, slots=True)
class DrsThresholdLevel:
    """What a DRS migration threshold means.

    target_imbalance: the standard deviation of host loads DRS is content with.
    min_gain: the least reduction of the sum of squared host-load deviations a single move
    must bring (n-independent; moving load d across a gap g gains about 2*d*(g - d)).
    """

    target_imbalance: float | None
    min_gain: float


DRS_THRESHOLDS: Mapping[int, DrsThresholdLevel] = {
    1: DrsThresholdLevel(target_imbalance=None, min_gain=float("inf")),  # rules only
    2: DrsThresholdLevel(target_imbalance=0.15, min_gain=0.02),
    3: DrsThresholdLevel(target_imbalance=0.08, min_gain=0.008),
    4: DrsThresholdLevel(target_imbalance=0.05, min_gain=0.003),
    5: DrsThresholdLevel(target_imbalance=0.02, min_gain=0.001),
}


# --- the snapshot --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PowerCurve:
    """Watts at 0 %, 10 %, ... 100 % CPU (SPECpower style), linear in between."""

    watts: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.watts) != POWER_CURVE_POINTS:
            raise ValueError(f"a power curve has {POWER_CURVE_POINTS} points, got {len(self.watts)}")

    def power(self, utilisation: float) -> float:
        u = min(max(utilisation, 0.0), 1.0) * (POWER_CURVE_POINTS - 1)
        low = int(u)
        if low >= POWER_CURVE_POINTS - 1:
            return self.watts[-1]
        return self.watts[low] + (self.watts[low + 1] - self.watts[low]) * (u - low)

    @property
    def peak(self) -> float:
        return self.watts[-1]

    @property
    def idle(self) -> float:
        return self.watts[0]


@dataclass(frozen=True, slots=True)
class HostState:
    id: str
    cluster: str
    cpus: int
    mhz: float  # per physical CPU
    memory_mb: int
    state: HostPowerState = HostPowerState.UP
    tags: frozenset[str] = frozenset()
    cpu_features: frozenset[str] = frozenset()
    baseline_compatible: bool = True  # can provide the cluster's EVC baseline (see evc.py)
    numa_nodes: int = 1
    disk_gb: float = 0.0  # 0: local disk not tracked
    storage_pools: frozenset[str] = frozenset()
    networks: frozenset[str] = frozenset()
    power_curve: PowerCurve | None = None
    reserved_mhz: float = 0.0  # kept for the hypervisor
    reserved_memory_mb: int = 0
    reserved_cpus: int = 0  # not offered to pinned instances

    @property
    def capacity_mhz(self) -> float:
        return self.cpus * self.mhz

    @property
    def usable_mhz(self) -> float:
        return self.capacity_mhz - self.reserved_mhz

    @property
    def usable_memory_mb(self) -> int:
        return self.memory_mb - self.reserved_memory_mb


@dataclass(frozen=True, slots=True)
class InstanceState:
    id: str
    host: str | None  # None: not placed yet (a create request)
    vcpus: int
    memory_mb: int
    cpu_demand_mhz: tuple[float, ...] = ()  # history, oldest first, one sample per interval
    active_memory_mb: float | None = None  # None: assume all memory is active
    dirty_rate_mb_s: float = 0.0
    disk_gb: float = 0.0
    ha_priority: HaPriority = HaPriority.MEDIUM
    reservation_mhz: float = 0.0
    pinned: bool = False  # dedicated physical CPUs (hw:cpu_policy=dedicated)
    server_group: str | None = None
    required_tags: frozenset[str] = frozenset()
    storage_pools: frozenset[str] = frozenset()
    networks: frozenset[str] = frozenset()
    cpu_features: frozenset[str] = frozenset()  # needed beyond the baseline (usually none)

    @property
    def active_memory(self) -> float:
        return self.memory_mb if self.active_memory_mb is None else self.active_memory_mb


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    kind: RuleKind
    strength: RuleStrength
    instance_ids: frozenset[str]
    host_ids: frozenset[str] = frozenset()  # for the VM-host kinds

    def __post_init__(self) -> None:
        host_kind = self.kind in (RuleKind.VM_HOST_AFFINITY, RuleKind.VM_HOST_ANTI_AFFINITY)
        if host_kind and not self.host_ids:
            raise ValueError(f"rule {self.id}: a VM-host rule names hosts")
        if not host_kind and self.host_ids:
            raise ValueError(f"rule {self.id}: a VM-VM rule names no hosts")


@dataclass(frozen=True, slots=True)
class ServerGroup:
    id: str
    policy: ServerGroupPolicy


@dataclass(frozen=True, slots=True)
class MigrationRecord:
    """A past migration, so that DRS does not bounce an instance back (hysteresis)."""

    instance_id: str
    source_host: str
    target_host: str
    finished_at: float


@dataclass(frozen=True)
class ClusterPolicy:
    cpu_overcommit: float = DEFAULT_CPU_OVERCOMMIT
    ram_overcommit: float = DEFAULT_RAM_OVERCOMMIT
    disk_overcommit: float = DEFAULT_DISK_OVERCOMMIT
    # placement
    strategy: PlacementStrategy = PlacementStrategy.SPREAD
    filters: tuple[FilterName, ...] = tuple(FilterName)
    weighers: tuple[tuple[WeigherName, float], ...] = (
        (WeigherName.FREE_RAM, 1.0),
        (WeigherName.CPU_LOAD, 1.0),
        (WeigherName.INSTANCE_COUNT, 0.5),
        (WeigherName.SOFT_RULES, 10.0),
    )
    max_cpu_load: float = 1.0  # placement's cap on projected demand / usable capacity
    # demand smoothing
    demand_estimator: DemandEstimator = DemandEstimator.PERCENTILE
    demand_window: int = DEFAULT_DEMAND_WINDOW
    demand_percentile: float = DEFAULT_DEMAND_PERCENTILE
    ewma_alpha: float = DEFAULT_EWMA_ALPHA
    aggregate_host_demand: bool = True  # a host's demand: estimate of the summed series
    # DRS
    drs_enabled: bool = True
    drs_automation: DrsAutomation = DrsAutomation.MANUAL
    drs_threshold: int = DEFAULT_DRS_THRESHOLD
    drs_interval_s: int = DEFAULT_DRS_INTERVAL_S
    drs_hysteresis_s: float = DEFAULT_HYSTERESIS_S
    drs_max_moves: int = 32
    drs_max_target_load: float = 0.9
    drs_overload: float = 1.0  # CPU load (smoothed or newest sample) relieved first
    drs_candidate_hosts: int = 4  # most / least loaded hosts examined per greedy step
    migration_bandwidth_mb_s: float = DEFAULT_MIGRATION_BANDWIDTH_MB_S
    # DPM
    dpm_enabled: bool = False
    dpm_target_low: float = DEFAULT_DPM_TARGET_LOW
    dpm_target_high: float = DEFAULT_DPM_TARGET_HIGH
    dpm_min_hosts_on: int = DEFAULT_MIN_HOSTS_ON
    dpm_reserve_hosts: int = 0  # empty hosts kept running (oVirt's "hosts in reserve")
    dpm_max_evacuations: int = 1  # hosts put in standby per run
    dpm_lookahead: int = 3  # samples the wake-up trend looks ahead
    # standby is judged on more history, and further ahead, than waking (as vSphere DPM's
    # power-off demand window is longer than its power-on one)
    dpm_standby_window: int = DEFAULT_DPM_STANDBY_WINDOW
    dpm_standby_lookahead: int = DEFAULT_DPM_STANDBY_LOOKAHEAD
    # HA
    ha_enabled: bool = True
    ha_admission: HaAdmissionPolicy = HaAdmissionPolicy.HOST_FAILURES
    ha_host_failures: int = 1
    ha_cpu_percent: float = 25.0
    ha_memory_percent: float = 25.0
    ha_min_cpu_mhz: float = DEFAULT_HA_MIN_CPU_MHZ
    restart_limit: int = DEFAULT_RESTART_LIMIT
    restart_window_s: float = DEFAULT_RESTART_WINDOW_S

    def __post_init__(self) -> None:
        if not DRS_THRESHOLD_MIN <= self.drs_threshold <= DRS_THRESHOLD_MAX:
            raise ValueError(f"drs_threshold is {DRS_THRESHOLD_MIN}..{DRS_THRESHOLD_MAX}")
        if not 0.0 < self.dpm_target_low < self.dpm_target_high <= 1.0:
            raise ValueError("DPM target range must be 0 < low < high <= 1")
        for name in ("cpu_overcommit", "ram_overcommit", "disk_overcommit", "max_cpu_load", "migration_bandwidth_mb_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.demand_window < 1 or self.dpm_standby_window < 1:
            raise ValueError("demand windows are at least one sample")
        if not 0.0 < self.demand_percentile <= 100.0:
            raise ValueError("demand_percentile is in (0, 100]")
        if self.ha_host_failures < 0 or self.dpm_min_hosts_on < 0:
            raise ValueError("counts cannot be negative")

    @property
    def drs_level(self) -> DrsThresholdLevel:
        return DRS_THRESHOLDS[self.drs_threshold]

    @property
    def dpm_target_mid(self) -> float:
        return (self.dpm_target_low + self.dpm_target_high) / 2


@dataclass(frozen=True)
class Snapshot:
    """Cluster state at one instant. Treat as immutable: planners work on copies of its index."""

    hosts: tuple[HostState, ...]
    instances: tuple[InstanceState, ...]
    rules: tuple[Rule, ...] = ()
    server_groups: tuple[ServerGroup, ...] = ()
    recent_migrations: tuple[MigrationRecord, ...] = ()
    now: float = 0.0
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def host(self, host_id: str) -> HostState:
        return self.host_map()[host_id]

    def host_map(self) -> dict[str, HostState]:
        cached = self._cache.get("hosts")
        if cached is None:
            cached = self._cache["hosts"] = {h.id: h for h in self.hosts}
        return cached

    def all_rules(self) -> tuple[Rule, ...]:
        """Admin rules plus the rules the server groups imply."""
        cached = self._cache.get("rules")
        if cached is None:
            cached = self._cache["rules"] = self.rules + rules_from_server_groups(self.server_groups, self.instances)
        return cached


_GROUP_RULES = {
    ServerGroupPolicy.AFFINITY: (RuleKind.VM_AFFINITY, RuleStrength.MUST),
    ServerGroupPolicy.ANTI_AFFINITY: (RuleKind.VM_ANTI_AFFINITY, RuleStrength.MUST),
    ServerGroupPolicy.SOFT_AFFINITY: (RuleKind.VM_AFFINITY, RuleStrength.SHOULD),
    ServerGroupPolicy.SOFT_ANTI_AFFINITY: (RuleKind.VM_ANTI_AFFINITY, RuleStrength.SHOULD),
}


def server_group_rule_id(group_id: str) -> str:
    return f"server-group:{group_id}"


def rules_from_server_groups(groups: tuple[ServerGroup, ...], instances: tuple[InstanceState, ...]) -> tuple[Rule, ...]:
    members: dict[str, set[str]] = {}
    for inst in instances:
        if inst.server_group is not None:
            members.setdefault(inst.server_group, set()).add(inst.id)
    rules = []
    for group in groups:
        kind, strength = _GROUP_RULES[group.policy]
        rules.append(
            Rule(
                id=server_group_rule_id(group.id),
                kind=kind,
                strength=strength,
                instance_ids=frozenset(members.get(group.id, ())),
            )
        )
    return tuple(rules)


# --- what the planners return ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Move:
    instance_id: str
    source_host: str | None
    target_host: str
    reason: MoveReason
    cost_s: float = 0.0  # estimated migration time
    benefit: float = 0.0  # gain in the reason's own measure (see the planner)
    explanation: str = ""
    rule_id: str | None = None


@dataclass(frozen=True, slots=True)
class PowerAction:
    host_id: str
    action: PowerActionKind
    reason: str
