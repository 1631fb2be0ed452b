"""Where a new instance goes: one function, ``choose_host``, in front of the scheduler.

It builds a snapshot of the cluster from the database and asks
``scheduler.core.placement.place`` (plain Python, below every app: compute owns where a new
instance goes and runs the scheduler's algorithm for it; the scheduler app decides moves of
running instances and calls compute's services). A rejection says, per host, why - before
anything is created. An error in the scheduler is an error: there is no fallback algorithm.
"""

from dataclasses import dataclass, replace

from django.db.models import Q, Sum

from compute.choices import PLACED_STATES, CpuPolicy, HostState
from compute.hosts import pools_of
from compute.models import Cluster, Host, Instance
from portal.errors import ActionError
from scheduler.core import model as smodel
from scheduler.core.evacuation import plan_evacuation
from scheduler.core.placement import PlacementRequest, place
from scheduler.core.wake import standby_host_to_wake

NEW_INSTANCE_ID = "new"
POOL_FILTER = "root-disk-pool"
AFFINITY_POLICIES = (smodel.ServerGroupPolicy.AFFINITY, smodel.ServerGroupPolicy.SOFT_AFFINITY)


@dataclass(frozen=True)
class GroupHint:
    """A server group the new instance joins, in plain values: its id, Nova's policy name and
    the hosts its placed members run on (read under the group's lock by whoever owns groups)."""

    id: str
    policy: str
    member_hosts: tuple[int, ...] = ()


class NoValidHost(ActionError):
    def __init__(self, flavor, reasons):
        self.reasons = reasons
        detail = "; ".join(f"{host}: {why}" for host, why in reasons) or "no hosts are registered"
        super().__init__(
            f"No host can take flavor {flavor.name} ({flavor.vcpus} vCPUs, {flavor.ram_mb} MB RAM, "
            f"{flavor.disk_gb} GB disk): {detail}.",
            field="image" if reasons and all(why.startswith(POOL_FILTER) for _h, why in reasons) else "flavor",
        )


@dataclass(frozen=True)
class Usage:
    vcpus: int = 0
    pinned_vcpus: int = 0
    ram_mb: int = 0
    disk_gb: int = 0
    reserved_mhz: int = 0


def _usage_by_host(hosts):
    rows = (
        Instance.objects.filter(host__in=hosts, state__in=PLACED_STATES)
        .values("host_id")
        .annotate(
            shared=Sum("vcpus", filter=Q(flavor__cpu_policy=CpuPolicy.SHARED)),
            pinned=Sum("vcpus", filter=Q(flavor__cpu_policy=CpuPolicy.DEDICATED)),
            ram=Sum("ram_mb"),
            disk=Sum("disk_gb"),
            mhz=Sum("flavor__cpu_reservation_mhz"),
        )
    )
    return {
        row["host_id"]: Usage(
            row["shared"] or 0, row["pinned"] or 0, row["ram"] or 0, row["disk"] or 0, row["mhz"] or 0
        )
        for row in rows
    }


def _candidate_hosts(hints):
    hosts = Host.objects.select_related("cluster")
    if hints.get("host"):
        hosts = hosts.filter(pk=hints["host"])
    if hints.get("cluster"):
        hosts = hosts.filter(cluster_id=hints["cluster"])
    return list(hosts)


def pool_refusal(host, pool):
    """Why ``host`` cannot serve a root disk in ``pool``, or None when it can (or never said)."""
    if not pool:
        return None
    pools = pools_of(host)
    if pools is None or pool in pools:
        return None
    return f"{POOL_FILTER}: pool {pool} is not active on this host"


def choose_host(flavor, project, hints=None, pool=None, group=None):
    """The host a new instance of ``flavor`` (root disk in ``pool``) goes to; NoValidHost (an
    ActionError) says, per host, why none. ``group``: a GroupHint whose policy the choice keeps
    (the scheduler's server group rules, as DRS keeps them afterwards)."""
    clusters, reasons = _clusters(hints, pool, group)
    for cluster_hosts, usage in clusters:
        chosen, rejected = _place(flavor, cluster_hosts[0].cluster, cluster_hosts, usage, group)
        if chosen is not None:
            return chosen
        reasons += rejected
    raise NoValidHost(flavor, reasons)


def lock_clusters(hints=None):
    """Lock, for the caller's transaction, the clusters a placement may choose from (in id
    order: no deadlocks). Placement then runs one at a time per cluster and counts every
    instance committed before it, so two creates cannot both take a host's last room; the
    quotas work the same way. SQLite ignores the lock but serialises writing transactions."""
    cluster_ids = Host.objects.filter(pk__in=[h.pk for h in _candidate_hosts(hints or {})]).values("cluster_id")
    list(Cluster.objects.select_for_update().filter(pk__in=cluster_ids).order_by("pk").values_list("pk", flat=True))


def _clusters(hints, pool=None, group=None):
    """([(hosts, usage)] per cluster, the clusters with the most free memory first, and
    [(host name, reason)] of the hosts that cannot serve ``pool``). With an affinity ``group``
    whose members run somewhere, their clusters come first; a hard affinity keeps only those."""
    hosts, refused = [], []
    for host in _candidate_hosts(hints or {}):
        reason = pool_refusal(host, pool)
        if reason is None:
            hosts.append(host)
        else:
            refused.append((host.name, reason))
    usage = _usage_by_host(hosts)
    by_cluster = {}
    for host in hosts:
        by_cluster.setdefault(host.cluster_id, []).append(host)
    ordered = sorted(by_cluster.values(), key=lambda hs: -_free_ram(hs, usage))
    if group is not None and group.member_hosts and group.policy in AFFINITY_POLICIES:
        homes = {h.cluster_id for h in hosts if h.pk in group.member_hosts}
        ordered.sort(key=lambda hs: hs[0].cluster_id not in homes)  # stable: by free memory within
        if group.policy == smodel.ServerGroupPolicy.AFFINITY:
            for hs in ordered:
                if hs[0].cluster_id not in homes:
                    refused += [(h.name, f"server group {group.id}: its servers run in another cluster") for h in hs]
            ordered = [hs for hs in ordered if hs[0].cluster_id in homes]
    return [(hs, usage) for hs in ordered], refused


def host_to_wake(flavor, hints=None, pool=None, group=None):
    """When no powered-on host takes ``flavor``: a standby host that would, to be woken for the
    request (the scheduler's DPM wake-on-demand), or None."""
    for cluster_hosts, usage in _clusters(hints, pool, group)[0]:
        if not any(h.state == HostState.STANDBY for h in cluster_hosts):
            continue
        snapshot, policy, request = _snapshot(
            smodel, PlacementRequest, flavor, cluster_hosts[0].cluster, cluster_hosts, usage, group
        )
        result = standby_host_to_wake(request, snapshot, policy)
        if result.ok:
            return next(h for h in cluster_hosts if str(h.pk) == result.host_id)
    return None


def _free_ram(hosts, usage):
    return sum(h.memory_mb - h.reserved_memory_mb - usage.get(h.pk, Usage()).ram_mb for h in hosts)


def _place(flavor, cluster, hosts, usage, group=None):
    snapshot, policy, request = _snapshot(smodel, PlacementRequest, flavor, cluster, hosts, usage, group)
    result = place(request, snapshot, policy)
    by_id = {str(h.pk): h for h in hosts}
    if result.ok:
        return by_id[result.host_id], []
    return None, [(by_id[r.host_id].name, _reason(by_id[r.host_id], r.filter, r.reason)) for r in result.rejections]


def _reason(host, filter_name, reason):
    if filter_name == "host-state" and host.state_reason:
        reason = f"{reason} ({host.state_reason})"
    return f"{filter_name}: {reason}"


_POWER = {
    HostState.UP: "UP",
    HostState.DOWN: "DOWN",
    HostState.MAINTENANCE: "MAINTENANCE",
    HostState.STANDBY: "STANDBY",
    HostState.ERROR: "ERROR",
}


def _snapshot(smodel, request_cls, flavor, cluster, hosts, usage, group=None):
    host_states, instances, policy = _cluster_state(smodel, cluster, hosts, usage)
    new = _demand_state(smodel, NEW_INSTANCE_ID, None, flavor)
    groups = ()
    if group is not None:
        # The members count as load already (the hosts' aggregates): here they are only where
        # they run, so the group's rule sees them.
        new = replace(new, server_group=group.id)
        in_cluster = {h.pk for h in hosts}
        instances += [
            smodel.InstanceState(id=f"member-{n}", host=str(pk), vcpus=0, memory_mb=0, server_group=group.id)
            for n, pk in enumerate(group.member_hosts)
            if pk in in_cluster
        ]
        groups = (smodel.ServerGroup(id=group.id, policy=smodel.ServerGroupPolicy(group.policy)),)
    snapshot = smodel.Snapshot(hosts=tuple(host_states), instances=tuple(instances), server_groups=groups)
    return snapshot, policy, request_cls(instance=new)


def _cluster_state(smodel, cluster, hosts, usage):
    """The scheduler's host states, the hosts' load as one aggregate instance each, the policy."""
    host_states, instances = [], []
    for host in hosts:
        host_states.append(
            smodel.HostState(
                id=str(host.pk),
                cluster=str(cluster.pk),
                cpus=host.cpus,
                mhz=float(host.mhz or 1),
                memory_mb=host.memory_mb,
                state=getattr(smodel.HostPowerState, _POWER[host.state]),
                numa_nodes=host.numa_nodes or 1,
                disk_gb=float(host.disk_gb),
                reserved_memory_mb=host.reserved_memory_mb,
            )
        )
        used = usage.get(host.pk)
        if used is None:
            continue
        # The snapshot needs instances only as load: one aggregate per host is enough.
        if used.vcpus or used.ram_mb:
            instances.append(
                smodel.InstanceState(
                    id=f"load-{host.pk}",
                    host=str(host.pk),
                    vcpus=used.vcpus,
                    memory_mb=used.ram_mb,
                    disk_gb=float(used.disk_gb),
                    reservation_mhz=float(used.reserved_mhz),
                )
            )
        if used.pinned_vcpus:
            instances.append(
                smodel.InstanceState(
                    id=f"pinned-{host.pk}", host=str(host.pk), vcpus=used.pinned_vcpus, memory_mb=0, pinned=True
                )
            )
    policy = smodel.ClusterPolicy(
        cpu_overcommit=cluster.cpu_overcommit,
        ram_overcommit=cluster.ram_overcommit,
        disk_overcommit=cluster.disk_overcommit,
    )
    return host_states, instances, policy


def _demand_state(smodel, instance_id, host_id, flavor):
    """An instance of ``flavor`` (or anything shaped like one) as the scheduler sees it."""
    return smodel.InstanceState(
        id=instance_id,
        host=host_id,
        vcpus=flavor.vcpus,
        memory_mb=flavor.ram_mb,
        disk_gb=float(flavor.disk_gb),
        reservation_mhz=float(flavor.cpu_reservation_mhz),
        pinned=flavor.cpu_policy == CpuPolicy.DEDICATED,
    )


def evacuation_wakes(host, demands):
    """When the powered-on hosts cannot take every instance leaving ``host`` (maintenance):
    the standby hosts to wake first (the scheduler's evacuation plan), as
    [(Host, [instance pk, ...])] in order of first need; [] when none is needed or none helps.
    ``demands``: (instance pk, flavor-shaped demand) of the instances leaving."""
    hosts = list(Host.objects.select_related("cluster").filter(cluster=host.cluster_id))
    if not demands or not any(h.state == HostState.STANDBY for h in hosts):
        return []
    # The leaving instances are counted one by one, so the source's own load is left out.
    usage = _usage_by_host([h for h in hosts if h.pk != host.pk])
    host_states, load, policy = _cluster_state(smodel, host.cluster, hosts, usage)
    leaving = [_demand_state(smodel, str(pk), str(host.pk), demand) for pk, demand in demands]
    plan = plan_evacuation(
        str(host.pk), smodel.Snapshot(hosts=tuple(host_states), instances=tuple(load + leaving)), policy
    )
    by_id = {str(h.pk): h for h in hosts}
    return [(by_id[hid], [int(m.instance_id) for m in plan.moves if m.target_host == hid]) for hid in plan.wakes]


def capacity_rejection(flavor, cluster, host, used):
    """Why ``host`` cannot take ``flavor`` by plain capacity, or None."""
    if host.state != HostState.UP:
        return _reason(host, "host-state", f"host is {host.state}")
    if flavor.cpu_policy == CpuPolicy.DEDICATED:
        free = host.cpus - used.pinned_vcpus
        if flavor.vcpus > free:
            return f"numa-pinning: {flavor.vcpus} dedicated CPUs wanted, {free} free"
    vcpu_limit = (host.cpus - used.pinned_vcpus) * cluster.cpu_overcommit
    shared = used.vcpus + (0 if flavor.cpu_policy == CpuPolicy.DEDICATED else flavor.vcpus)
    if shared > vcpu_limit:
        return f"vcpu: {shared} shared vCPUs over the limit {vcpu_limit:g}"
    ram_limit = (host.memory_mb - host.reserved_memory_mb) * cluster.ram_overcommit
    if used.ram_mb + flavor.ram_mb > ram_limit:
        return f"memory: {flavor.ram_mb} MB wanted, {max(ram_limit - used.ram_mb, 0):.0f} MB free"
    if host.disk_gb and used.disk_gb + flavor.disk_gb > host.disk_gb * cluster.disk_overcommit:
        return f"disk: {flavor.disk_gb} GB wanted, {host.disk_gb * cluster.disk_overcommit - used.disk_gb:g} GB free"
    return None


def check_fits(instance, flavor):
    """A resize stays on the instance's host: NoValidHost unless the new flavor fits there."""
    host = instance.host
    used = _usage_by_host([host]).get(host.pk, Usage())
    if instance.flavor.cpu_policy == CpuPolicy.DEDICATED:
        used = replace(used, pinned_vcpus=used.pinned_vcpus - instance.vcpus)
    else:
        used = replace(used, vcpus=used.vcpus - instance.vcpus)
    used = replace(used, ram_mb=used.ram_mb - instance.ram_mb, disk_gb=used.disk_gb - instance.disk_gb)
    why = capacity_rejection(flavor, host.cluster, host, used)
    if why is not None:
        raise NoValidHost(flavor, [(host.name, why)])
