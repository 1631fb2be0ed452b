"""The scheduler core's Snapshot of one cluster, built from the database.

Shared by DRS, DPM, HA and admission control (compute's placement may use it too). Ids in
the snapshot are the rows' primary keys as strings. Instances that are not running hold
capacity (vCPUs, memory, reservations) but create no load: their active memory is zero.

CPU demand comes from compute's metrics samples: a running instance's CPU use over the DRS
demand window, averaged per sample interval, in MHz of its host; the core smooths that
history (a percentile or an EWMA). An instance without samples falls back to its CPU
reservation.

CPU compatibility follows compute's migration pre-check (`compute.migration.check_cpu`):
with a cluster baseline every guest runs the baseline, and a host can take none unless it
can provide it — the EVC task's libvirt comparison (the pre-check's own) is stored per
cluster and marks the hosts that cannot. Without a baseline the guest copies its host's CPU
(host-model); that case is not modelled yet (see issue 8), so compute's pre-check remains
the judge there.
"""

import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Avg
from django.utils import timezone

from compute.choices import PLACED_STATES, CpuPolicy, InstanceState
from compute.metrics.query import SeriesRequest, resolution_for
from compute.metrics.rollups import bucket_of
from compute.models import Host, Instance, InstanceSample
from compute.models.metrics import Scope
from scheduler import choices as c
from scheduler.core import model as core
from scheduler.models import AffinityRule, ClusterSchedulerSettings, HostPower, Recommendation, ServerGroup

_HOST_STATES = {
    "up": core.HostPowerState.UP,
    "down": core.HostPowerState.DOWN,
    "maintenance": core.HostPowerState.MAINTENANCE,
    "standby": core.HostPowerState.STANDBY,
    "error": core.HostPowerState.ERROR,
}


@dataclass
class ClusterView:
    """A snapshot plus what turns its ids back into rows and names."""

    cluster: object
    settings: ClusterSchedulerSettings
    policy: core.ClusterPolicy
    snapshot: core.Snapshot
    hosts: dict = field(default_factory=dict)  # id -> Host
    instances: dict = field(default_factory=dict)  # id -> Instance


def settings_for(cluster):
    settings, _ = ClusterSchedulerSettings.objects.select_related("cluster").get_or_create(cluster=cluster)
    return settings


def host_state(host, power=None):
    if power is not None and power.power_state == c.PowerState.WAKING and host.state == "standby":
        return core.HostPowerState.WAKING
    return _HOST_STATES.get(host.state, core.HostPowerState.ERROR)


def host_snapshot(host, cluster, power=None, incompatible=frozenset()):
    """`incompatible`: hosts that cannot run the cluster's CPU baseline (`baseline_blockers`)."""
    blocked = host.pk in incompatible
    return core.HostState(
        id=str(host.pk),
        cluster=str(cluster.pk),
        cpus=host.cpus,
        mhz=float(host.mhz or 1),
        memory_mb=int(host.memory_mb),
        state=host_state(host, power),
        numa_nodes=host.numa_nodes or 1,
        disk_gb=float(host.disk_gb),
        reserved_memory_mb=host.reserved_memory_mb,
        cpu_features=frozenset(host.facts.get("cpu_features") or ()),
        baseline_compatible=not blocked,
    )


def instance_snapshot(instance, group_id=None, placed=True, cpu_demand_mhz=()):
    """An instance as the core sees it; `placed=False` for one about to start or move.
    `cpu_demand_mhz`: its demand history (see `cpu_histories`)."""

    flavor = instance.flavor
    running = instance.state == InstanceState.ACTIVE
    return core.InstanceState(
        id=str(instance.pk),
        host=_pk(instance.host_id) if placed else None,
        vcpus=instance.vcpus,
        memory_mb=instance.ram_mb,
        disk_gb=float(instance.disk_gb),
        active_memory_mb=None if running else 0.0,
        cpu_demand_mhz=tuple(cpu_demand_mhz),
        ha_priority=core.HaPriority(instance.ha_priority),
        reservation_mhz=float(flavor.cpu_reservation_mhz),
        pinned=flavor.cpu_policy == CpuPolicy.DEDICATED,
        server_group=group_id,
    )


def baseline_blockers(cluster, settings):
    """Hosts libvirt found unable to run the cluster's CPU baseline, while it has one (read
    from the database: the baseline may have been stored since `cluster` was loaded)."""
    if not type(cluster).objects.filter(pk=cluster.pk).exclude(cpu_baseline_xml="").exists():
        return frozenset()
    return frozenset(settings.evc_incompatible_hosts or ())


def cpu_histories(instances, policy, now):
    """instance id -> its CPU demand in MHz per sample interval over the longer of the demand and
    the DPM standby windows, oldest
    first, from compute's metrics samples (the finest resolution still covering the window,
    averaged per interval). Instances without samples are left out."""

    if not instances:
        return {}
    interval = core.SAMPLE_INTERVAL_S
    end = int(now)
    # DRS smooths over demand_window samples; DPM judges standby over the longer standby window.
    samples = max(policy.demand_window, policy.dpm_standby_window)
    start = (end // interval - samples + 1) * interval  # the last interval is the current one
    resolution = resolution_for(SeriesRequest(Scope.INSTANCE, 0, "cpu_pct", start, end, interval), now)
    rows = (
        InstanceSample.objects.filter(
            instance_id__in=[i.pk for i in instances],
            resolution=resolution,
            ts__gte=start,
            ts__lt=end,
            cpu_pct__isnull=False,
        )
        .annotate(bucket=bucket_of("ts", interval))
        .values("instance_id", "bucket")
        .annotate(pct=Avg("cpu_pct"))
        .order_by("instance_id", "bucket")
    )
    by_pk = {i.pk: i for i in instances}
    histories = {}
    for row in rows:
        inst = by_pk[row["instance_id"]]
        mhz = row["pct"] / c.PERCENT * inst.vcpus * float(inst.host.mhz or 1)
        histories.setdefault(str(inst.pk), []).append(mhz)
    return histories


def flavor_snapshot(flavor, instance_id="new"):
    """A not-yet-placed instance of a flavor (admission control, placement)."""

    return core.InstanceState(
        id=instance_id,
        host=None,
        vcpus=flavor.vcpus,
        memory_mb=flavor.ram_mb,
        disk_gb=float(flavor.disk_gb),
        reservation_mhz=float(flavor.cpu_reservation_mhz),
        pinned=flavor.cpu_policy == CpuPolicy.DEDICATED,
    )


def _pk(value):
    return None if value is None else str(value)


def build(cluster, now=None, running_only=False):
    """The cluster's view; `running_only` leaves out instances that are not running
    (admission control counts only those)."""

    settings = settings_for(cluster)
    policy = settings.policy()
    hosts = {str(h.pk): h for h in Host.objects.filter(cluster=cluster)}
    powers = {p.host_id: p for p in HostPower.objects.filter(host__cluster=cluster)}
    states = (InstanceState.ACTIVE,) if running_only else PLACED_STATES
    instances = {
        str(i.pk): i
        for i in Instance.objects.filter(host__cluster=cluster, state__in=states).select_related(
            "flavor", "project", "host"
        )
    }
    group_of = dict(
        ServerGroup.members.through.objects.filter(instance_id__in=[int(k) for k in instances]).values_list(
            "instance_id", "servergroup_id"
        )
    )
    moment = time.time() if now is None else now
    running = [i for i in instances.values() if i.state == InstanceState.ACTIVE]
    histories = cpu_histories(running, policy, moment)
    blockers = baseline_blockers(cluster, settings)
    host_states = tuple(host_snapshot(h, cluster, powers.get(h.pk), blockers) for h in hosts.values())
    instance_states = tuple(
        instance_snapshot(i, _pk(group_of.get(i.pk)), cpu_demand_mhz=histories.get(key, ()))
        for key, i in instances.items()
    )
    groups = tuple(
        core.ServerGroup(id=str(g.pk), policy=core.ServerGroupPolicy(g.policy))
        for g in ServerGroup.objects.filter(pk__in=set(group_of.values()))
    )
    snapshot = core.Snapshot(
        hosts=host_states,
        instances=instance_states,
        rules=_rules(cluster, instances),
        server_groups=groups,
        recent_migrations=_recent_moves(cluster, policy, moment),
        now=moment,
    )
    return ClusterView(cluster, settings, policy, snapshot, hosts, instances)


def _rules(cluster, instances):
    rules = []
    for rule in AffinityRule.objects.filter(cluster=cluster, enabled=True).prefetch_related("instances", "hosts"):
        members = frozenset(str(i.pk) for i in rule.instances.all() if str(i.pk) in instances)
        hosts = frozenset(str(h.pk) for h in rule.hosts.all())
        rules.append(
            core.Rule(
                id=f"rule:{rule.pk}",
                kind=core.RuleKind(rule.kind),
                strength=core.RuleStrength(rule.strength),
                instance_ids=members,
                host_ids=hosts,
            )
        )
    return tuple(rules)


def _recent_moves(cluster, policy, now):
    """Moves of applied recommendations within the hysteresis window: DRS leaves them be."""
    since = timezone.now() - timedelta(seconds=policy.drs_hysteresis_s)
    records = []
    for rec in Recommendation.objects.filter(cluster=cluster, state=c.RecommendationState.APPLIED, finished__gte=since):
        finished = rec.finished.timestamp()
        records += [core.MigrationRecord(m["instance"], m["source"] or "", m["target"], finished) for m in rec.moves]
    return tuple(records)
