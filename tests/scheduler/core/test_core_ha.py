import pytest

from scheduler.core import ha
from scheduler.core.ha import FenceOutcome, FenceStatus, NotFenced
from scheduler.core.model import (
    ClusterPolicy,
    FilterName,
    HaAdmissionPolicy,
    HaPriority,
    MoveReason,
    Snapshot,
)

POLICY = ClusterPolicy()
FENCED = FenceOutcome("dead", FenceStatus.SUCCEEDED, method="ipmi", at=10.0)


def _failed_cluster(make_host, make_instance):
    """'dead' held three instances; 'alive' has room for 40 GB of them."""
    hosts = (make_host("dead"), make_host("alive", memory_mb=40960))
    instances = (
        make_instance("low", "dead", memory_mb=16384, ha_priority=HaPriority.LOW),
        make_instance("high", "dead", memory_mb=16384, ha_priority=HaPriority.HIGH),
        make_instance("medium", "dead", memory_mb=16384, ha_priority=HaPriority.MEDIUM),
        make_instance("scratch", "dead", memory_mb=1024, ha_priority=HaPriority.DISABLED),
    )
    return Snapshot(hosts, instances)


@pytest.mark.parametrize(
    "fence",
    [
        None,
        FenceOutcome("dead", FenceStatus.FAILED),
        FenceOutcome("dead", FenceStatus.PENDING),
        FenceOutcome("other-host", FenceStatus.SUCCEEDED),
    ],
)
def test_it_restarts_nothing_without_a_successful_fence_of_that_host(make_host, make_instance, fence):
    snap = _failed_cluster(make_host, make_instance)

    with pytest.raises(NotFenced):
        ha.plan_restarts("dead", snap, POLICY, fence)


def test_it_restarts_by_priority_and_explains_what_did_not_fit(make_host, make_instance):
    snap = _failed_cluster(make_host, make_instance)

    plan = ha.plan_restarts("dead", snap, POLICY, FENCED)

    assert [(m.instance_id, m.target_host, m.reason) for m in plan.restarts] == [
        ("high", "alive", MoveReason.RESTART),
        ("medium", "alive", MoveReason.RESTART),
    ]
    assert [r.instance_id for r in plan.unplaced] == ["low"]
    reasons = {r.host_id: r.filter for r in plan.unplaced[0].rejections}
    assert reasons == {"dead": FilterName.HOST_STATE, "alive": FilterName.MEMORY}
    assert plan.not_protected == ("scratch",)


def test_admission_control_refuses_a_start_that_breaks_failover_capacity(make_host, make_instance):
    hosts = (make_host("a", memory_mb=32768), make_host("b", memory_mb=32768))
    running = (make_instance("r1", "a", memory_mb=16384), make_instance("r2", "b", memory_mb=8192))
    snap = Snapshot(hosts, running)
    small = make_instance("small", None, memory_mb=4096)
    large = make_instance("large", None, memory_mb=16384)

    assert ha.admission_check(snap, POLICY, small).allowed
    refused = ha.admission_check(snap, POLICY, large)
    assert not refused.allowed
    assert refused.reason == ("memory 40960 MB would exceed 32768 MB, keeping room for 1 host failure")


def test_admission_control_by_percentage_keeps_that_share_free(make_host, make_instance):
    hosts = (make_host("a", memory_mb=10000),)
    snap = Snapshot(hosts, (make_instance("r", "a", memory_mb=7000),))
    quarter = ClusterPolicy(ha_admission=HaAdmissionPolicy.PERCENTAGE, ha_memory_percent=25.0)
    third = ClusterPolicy(ha_admission=HaAdmissionPolicy.PERCENTAGE, ha_memory_percent=33.0)
    inst = make_instance("new", None, memory_mb=500)

    assert ha.admission_check(snap, quarter, inst).allowed
    refused = ha.admission_check(snap, third, inst)
    assert not refused.allowed
    assert "25 % CPU and 33 % memory free" in refused.reason


def test_admission_control_refuses_when_too_few_hosts_remain(make_host, make_instance):
    snap = Snapshot((make_host("only"),), ())

    result = ha.admission_check(snap, POLICY, make_instance("x", None))

    assert not result.allowed
    assert result.reason == "1 hosts up cannot tolerate 1 host failures"


def test_it_stops_restarting_a_crashing_instance_after_the_limit_in_the_window():
    policy = ClusterPolicy(restart_limit=3, restart_window_s=3600.0)

    assert ha.restart_allowed([100.0, 200.0], now=300.0, policy=policy)
    assert not ha.restart_allowed([100.0, 200.0, 250.0], now=300.0, policy=policy)
    assert ha.restart_allowed([100.0, 200.0, 250.0], now=3750.0, policy=policy)
