from scheduler.core.model import (
    ClusterPolicy,
    FilterName,
    HostPowerState,
    PlacementStrategy,
    Rule,
    RuleKind,
    RuleStrength,
    ServerGroup,
    ServerGroupPolicy,
    Snapshot,
    WeigherName,
)
from scheduler.core.placement import PlacementRequest, place

POLICY = ClusterPolicy()


def test_it_explains_no_valid_host_with_the_filter_that_rejected_each_host(make_host, make_instance):
    hosts = (
        make_host("maint", state=HostPowerState.MAINTENANCE),
        make_host("standby", state=HostPowerState.STANDBY),
        make_host("small", memory_mb=2048),
        make_host("old", baseline_compatible=False),
        make_host("untagged"),
    )
    snap = Snapshot(hosts, ())
    inst = make_instance("new", None, memory_mb=4096, required_tags=frozenset({"gpu"}))
    policy = ClusterPolicy(
        filters=(FilterName.HOST_STATE, FilterName.CPU_COMPATIBILITY, FilterName.MEMORY, FilterName.REQUIRED_TAGS)
    )

    result = place(PlacementRequest(inst), snap, policy)

    assert not result.ok
    by_host = {r.host_id: r.filter for r in result.rejections}
    assert by_host == {
        "maint": FilterName.HOST_STATE,
        "standby": FilterName.HOST_STATE,
        "small": FilterName.MEMORY,
        "old": FilterName.CPU_COMPATIBILITY,
        "untagged": FilterName.REQUIRED_TAGS,
    }
    explanation = result.explain()
    assert "no valid host for instance new" in explanation
    assert "maint: host-state: host is maintenance" in explanation
    assert "small: memory: 4096 MB wanted, 2048 MB free" in explanation


def test_it_applies_the_cpu_overcommit_ratio_to_vcpus(make_host, make_instance):
    host = make_host("h1", cpus=2)
    existing = [make_instance(f"i{n}", "h1", vcpus=2, memory_mb=512, demand=10) for n in range(3)]
    snap = Snapshot((host,), tuple(existing))
    fits = make_instance("fits", None, vcpus=2, memory_mb=512, demand=10)
    too_many = make_instance("too-many", None, vcpus=3, memory_mb=512, demand=10)

    assert place(PlacementRequest(fits), snap, POLICY).host_id == "h1"  # 8 of 2 x 4.0
    result = place(PlacementRequest(too_many), snap, POLICY)
    assert result.rejections[0].filter is FilterName.VCPU


def test_it_keeps_cpu_reservations_within_the_unreserved_capacity(make_host, make_instance):
    host = make_host("h1", cpus=2, mhz=2000.0, reserved_mhz=1000.0)
    held = make_instance("held", "h1", reservation_mhz=2500.0, demand=0)
    snap = Snapshot((host,), (held,))
    wants = make_instance("wants", None, reservation_mhz=600.0, demand=0)

    result = place(PlacementRequest(wants), snap, POLICY)

    assert result.rejections[0].filter is FilterName.CPU_RESERVATION
    assert "500 MHz unreserved" in result.rejections[0].reason


def test_it_fits_a_pinned_instance_on_free_dedicated_cpus_of_one_numa_node(make_host, make_instance):
    two_nodes = make_host("numa", cpus=8, numa_nodes=2)
    busy = make_host("busy", cpus=8, numa_nodes=1)
    pinned_there = make_instance("p", "busy", vcpus=6, pinned=True)
    snap = Snapshot((two_nodes, busy), (pinned_there,))
    wide = make_instance("wide", None, vcpus=4, pinned=True, demand=100)
    wider = make_instance("wider", None, vcpus=5, pinned=True, demand=100)

    assert place(PlacementRequest(wide), snap, POLICY).host_id == "numa"
    result = place(PlacementRequest(wider), snap, POLICY)
    reasons = {r.host_id: r.reason for r in result.rejections}
    assert "NUMA node of 4" in reasons["numa"]
    assert "2 free" in reasons["busy"]


def test_it_keeps_anti_affinity_group_members_apart(make_host, make_instance):
    hosts = (make_host("a"), make_host("b"))
    member = make_instance("m1", "a", server_group="web")
    busy = make_instance("busy", "b", demand=8000, memory_mb=16384)  # spread would pick a
    snap = Snapshot(hosts, (member, busy), server_groups=(ServerGroup("web", ServerGroupPolicy.ANTI_AFFINITY),))
    newcomer = make_instance("m2", None, server_group="web")  # a create: not in the snapshot

    result = place(PlacementRequest(newcomer), snap, POLICY)

    assert result.host_id == "b"
    assert [(r.host_id, r.filter) for r in result.rejections] == [("a", FilterName.RULES)]


def test_it_joins_an_affinity_group_on_its_host(make_host, make_instance):
    hosts = (make_host("a"), make_host("b"))
    member = make_instance("m1", "b", server_group="db")
    newcomer = make_instance("m2", None, server_group="db")
    snap = Snapshot(hosts, (member,), server_groups=(ServerGroup("db", ServerGroupPolicy.AFFINITY),))

    assert place(PlacementRequest(newcomer), snap, POLICY).host_id == "b"


def test_it_prefers_a_should_host_rule_without_requiring_it(make_host, make_instance):
    hosts = (make_host("a"), make_host("b"), make_host("c"))
    inst = make_instance("x", None)
    rule = Rule("prefer-c", RuleKind.VM_HOST_AFFINITY, RuleStrength.SHOULD, frozenset({"x"}), frozenset({"c"}))
    full = make_instance("full", "c", memory_mb=65536, demand=0)
    snap = Snapshot(hosts, (inst,), rules=(rule,))

    assert place(PlacementRequest(inst), snap, POLICY).host_id == "c"
    crowded = Snapshot(hosts, (inst, full), rules=(rule,))
    assert place(PlacementRequest(inst), crowded, POLICY).host_id in {"a", "b"}


def test_spread_picks_the_emptiest_host_and_pack_the_fullest_that_fits(make_host, make_instance):
    hosts = (make_host("empty"), make_host("half"), make_host("full"))
    load = [
        make_instance("h1", "half", demand=8000, memory_mb=32768),
        make_instance("f1", "full", demand=28000, memory_mb=62000),
    ]
    inst = make_instance("new", None, demand=2000, memory_mb=4096)
    snap = Snapshot(hosts, (*load, inst))

    spread = place(PlacementRequest(inst, strategy=PlacementStrategy.SPREAD), snap, POLICY)
    pack = place(PlacementRequest(inst, strategy=PlacementStrategy.PACK), snap, POLICY)

    assert spread.host_id == "empty"
    assert pack.host_id == "half"  # "full" has 3.5 GB of memory left: rejected
    assert {r.host_id for r in pack.rejections} == {"full"}


def test_it_ranks_by_the_configured_weighers_only(make_host, make_instance):
    hosts = (make_host("many"), make_host("few"))
    crowd = [make_instance(f"c{n}", "many", demand=0, memory_mb=256, vcpus=1) for n in range(5)]
    busy = make_instance("busy", "few", demand=20000, memory_mb=256, vcpus=1)
    inst = make_instance("new", None, demand=10, memory_mb=256, vcpus=1)
    snap = Snapshot(hosts, (*crowd, busy, inst))

    by_count = ClusterPolicy(weighers=((WeigherName.INSTANCE_COUNT, 1.0),))
    by_load = ClusterPolicy(weighers=((WeigherName.CPU_LOAD, 1.0),))

    assert place(PlacementRequest(inst), snap, by_count).host_id == "few"
    assert place(PlacementRequest(inst), snap, by_load).host_id == "many"


def test_it_rejects_a_host_that_cannot_reach_the_instances_storage(make_host, make_instance):
    hosts = (make_host("nfs", storage_pools=frozenset({"nfs1"})), make_host("local"))
    inst = make_instance("x", None, storage_pools=frozenset({"nfs1"}))
    snap = Snapshot(hosts, (inst,))

    result = place(PlacementRequest(inst), snap, POLICY)

    assert result.host_id == "nfs"
    assert result.rejections[0].filter is FilterName.REACHABILITY
