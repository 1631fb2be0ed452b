from scheduler.core import drs
from scheduler.core.model import (
    ClusterPolicy,
    DemandEstimator,
    MigrationRecord,
    MoveReason,
    Rule,
    RuleKind,
    RuleStrength,
    Snapshot,
)

NAIVE = ClusterPolicy(demand_estimator=DemandEstimator.LAST, drs_hysteresis_s=0.0, drs_threshold=5)
WITH_HYSTERESIS = ClusterPolicy(demand_estimator=DemandEstimator.LAST, drs_threshold=5)


def _spiky_step(make_host, make_instance, x_host, a_demand, b_demand, recent=()):
    """Hosts a and b; x (4000 MHz) plus one steady neighbour on each host."""
    hosts = (make_host("a"), make_host("b"))
    instances = (
        make_instance("x", x_host, demand=4000),
        make_instance("a1", "a", demand=a_demand),
        make_instance("b1", "b", demand=b_demand),
    )
    return Snapshot(hosts, instances, recent_migrations=recent, now=600.0)


def test_it_does_not_ping_pong_an_instance_whose_spike_moved_elsewhere(make_host, make_instance):
    first = _spiky_step(make_host, make_instance, "a", a_demand=12000, b_demand=0)
    moved = drs.recommend(first, WITH_HYSTERESIS).moves
    assert [(m.instance_id, m.source_host, m.target_host) for m in moved] == [("x", "a", "b")]

    # The load flips: a naive balancer sends x straight back; hysteresis keeps it on b.
    record = (MigrationRecord("x", "a", "b", finished_at=300.0),)
    second = _spiky_step(make_host, make_instance, "b", a_demand=0, b_demand=12000, recent=record)
    naive = drs.recommend(second, NAIVE).moves
    assert [(m.instance_id, m.target_host) for m in naive] == [("x", "a")]
    assert drs.recommend(second, WITH_HYSTERESIS).moves == ()


def test_it_balances_on_smoothed_demand_not_on_a_single_spike(make_host, make_instance):
    hosts = (make_host("a"), make_host("b"))
    spike = (1000.0,) * 11 + (12000.0,)
    instances = (
        make_instance("x", "a", cpu_demand_mhz=spike),
        make_instance("y", "a", demand=1000),
        make_instance("z", "b", demand=1000),
    )
    snap = Snapshot(hosts, instances)

    assert drs.recommend(snap, ClusterPolicy(drs_threshold=5)).moves == ()
    assert len(drs.recommend(snap, ClusterPolicy(drs_threshold=5, demand_estimator=DemandEstimator.LAST)).moves) == 1


def test_it_fixes_rule_violations_before_balancing(make_host, make_instance):
    hosts = (make_host("a"), make_host("b"), make_host("c"))
    instances = (
        make_instance("w1", "a", demand=100),
        make_instance("w2", "a", demand=100),
        make_instance("big1", "b", demand=12000, vcpus=8),
        make_instance("big2", "b", demand=12000, vcpus=8),
    )
    apart = Rule("web-apart", RuleKind.VM_ANTI_AFFINITY, RuleStrength.MUST, frozenset({"w1", "w2"}))
    snap = Snapshot(hosts, instances, rules=(apart,))

    result = drs.recommend(snap, ClusterPolicy(drs_threshold=5))

    assert result.moves[0].reason is MoveReason.RULE
    assert result.moves[0].rule_id == "web-apart"
    assert result.moves[0].instance_id == "w2"
    assert any(m.reason is MoveReason.BALANCE for m in result.moves[1:])
    assert [v.rule_id for v in result.violations] == ["web-apart"]


def test_it_fixes_rule_violations_even_when_balancing_is_off(make_host, make_instance):
    hosts = (make_host("a"), make_host("b"))
    instances = (make_instance("x", "a"),)
    must_b = Rule("x-on-b", RuleKind.VM_HOST_AFFINITY, RuleStrength.MUST, frozenset({"x"}), frozenset({"b"}))
    snap = Snapshot(hosts, instances, rules=(must_b,))

    result = drs.recommend(snap, ClusterPolicy(drs_threshold=1))

    assert [(m.instance_id, m.target_host, m.reason) for m in result.moves] == [("x", "b", MoveReason.RULE)]


def test_it_reports_a_rule_violation_no_host_can_fix(make_host, make_instance):
    hosts = (make_host("a"),)
    instances = (make_instance("w1", "a"), make_instance("w2", "a"))
    apart = Rule("apart", RuleKind.VM_ANTI_AFFINITY, RuleStrength.MUST, frozenset({"w1", "w2"}))

    result = drs.recommend(Snapshot(hosts, instances, rules=(apart,)), ClusterPolicy())

    assert result.moves == ()
    assert [v.rule_id for v in result.unresolved] == ["apart"]


def test_it_makes_no_move_that_gains_less_than_the_thresholds_minimum(make_host, make_instance):
    hosts = (make_host("a"), make_host("b"))
    # a at 0.25, b at 0.1875: a small gap; moving the 1000 MHz instance gains ~0.0020.
    instances = (
        make_instance("x", "a", demand=1000),
        make_instance("y", "a", demand=7000),
        make_instance("z", "b", demand=6000),
    )
    snap = Snapshot(hosts, instances)

    assert drs.recommend(snap, ClusterPolicy(drs_threshold=3)).moves == ()
    aggressive = drs.recommend(snap, ClusterPolicy(drs_threshold=5)).moves
    assert [m.instance_id for m in aggressive] == ["x"]
    assert aggressive[0].benefit >= ClusterPolicy(drs_threshold=5).drs_level.min_gain


def test_it_moves_the_cheapest_instance_for_the_same_gain(make_host, make_instance):
    hosts = (make_host("a"), make_host("b"))
    instances = (
        make_instance("hot-dirty", "a", demand=4000, memory_mb=8192, dirty_rate_mb_s=50),
        make_instance("small", "a", demand=4000, memory_mb=1024),
        make_instance("rest", "a", demand=8000),
    )
    snap = Snapshot(hosts, instances)

    result = drs.recommend(snap, ClusterPolicy(drs_threshold=5, drs_max_moves=1))

    assert [m.instance_id for m in result.moves] == ["small"]
    assert result.imbalance_after < result.imbalance_before
    assert "imbalance" in result.moves[0].explanation


def test_it_does_not_push_a_target_over_the_maximum_load(make_host, make_instance):
    hosts = (make_host("a"), make_host("b"))
    instances = (
        make_instance("x", "a", demand=20000, vcpus=12),
        make_instance("y", "a", demand=12000, vcpus=8),
        make_instance("z", "b", demand=16000, vcpus=8),
    )
    snap = Snapshot(hosts, instances)

    capped = drs.recommend(snap, ClusterPolicy(drs_threshold=5, drs_max_target_load=0.6))
    loose = drs.recommend(snap, ClusterPolicy(drs_threshold=5, drs_max_target_load=1.0))

    assert capped.moves == ()
    assert [m.instance_id for m in loose.moves] == ["y"]


def test_it_relieves_a_host_above_its_capacity_even_when_balancing_is_off(make_host, make_instance):
    rules_only = ClusterPolicy(drs_threshold=1)
    hosts = (make_host("full"), make_host("idle"))
    instances = tuple(make_instance(f"i{n}", "full", demand=9000, vcpus=8) for n in range(4))

    result = drs.recommend(Snapshot(hosts, instances), rules_only)

    assert [m.reason for m in result.moves] == [MoveReason.OVERLOAD]
    assert result.moves[0].target_host == "idle"
    assert result.host_loads["full"] <= rules_only.drs_max_target_load


def test_it_relieves_a_host_whose_newest_sample_is_above_capacity(make_host, make_instance):
    rules_only = ClusterPolicy(drs_threshold=1)
    hosts = (make_host("full"), make_host("idle"))
    jump = (4000.0,) * 11 + (11000.0,)  # calm for an hour, then everything at once
    instances = tuple(make_instance(f"i{n}", "full", cpu_demand_mhz=jump, vcpus=8) for n in range(3))

    result = drs.recommend(Snapshot(hosts, instances), rules_only)

    assert [m.reason for m in result.moves] == [MoveReason.OVERLOAD]
