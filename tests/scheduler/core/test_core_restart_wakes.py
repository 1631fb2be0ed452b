"""HA restarts that no powered-on host can take wake standby hosts: one wake per host, the
hosts in the order of the highest priority that needs them, and never a host that is down."""

from scheduler.core import ha
from scheduler.core.ha import FenceOutcome, FenceStatus
from scheduler.core.model import ClusterPolicy, FilterName, HaPriority, HostPowerState, Snapshot

POLICY = ClusterPolicy()
FENCED = FenceOutcome("dead", FenceStatus.SUCCEEDED, method="ipmi", at=10.0)
GB = 16384


def _victims(make_instance, *priorities):
    return tuple(make_instance(f"vm-{p.name.lower()}", "dead", memory_mb=GB, ha_priority=p) for p in priorities)


def test_a_restart_with_no_room_wakes_a_standby_host(make_host, make_instance):
    hosts = (make_host("dead"), make_host("alive", memory_mb=40960), make_host("sleeper", state=HostPowerState.STANDBY))
    snap = Snapshot(hosts, _victims(make_instance, HaPriority.HIGH, HaPriority.MEDIUM, HaPriority.LOW))

    plan = ha.plan_restarts("dead", snap, POLICY, FENCED)

    assert [(m.instance_id, m.target_host) for m in plan.restarts] == [
        ("vm-high", "alive"),
        ("vm-medium", "alive"),
        ("vm-low", "sleeper"),
    ]
    assert plan.wakes == ("sleeper",) and plan.unplaced == ()
    assert "woken from standby" in plan.restarts[2].explanation
    assert "woken" not in plan.restarts[0].explanation


def test_restarts_that_fit_on_running_hosts_wake_nothing(make_host, make_instance):
    hosts = (
        make_host("dead"),
        make_host("alive", memory_mb=131072),
        make_host("sleeper", state=HostPowerState.STANDBY),
    )
    snap = Snapshot(hosts, _victims(make_instance, HaPriority.HIGH, HaPriority.LOW))

    plan = ha.plan_restarts("dead", snap, POLICY, FENCED)

    assert {m.target_host for m in plan.restarts} == {"alive"} and plan.wakes == ()


def test_several_restarts_share_one_woken_host(make_host, make_instance):
    hosts = (
        make_host("dead"),
        make_host("alive", memory_mb=8192),
        make_host("sleeper-1", state=HostPowerState.STANDBY),
        make_host("sleeper-2", state=HostPowerState.STANDBY),
    )
    snap = Snapshot(hosts, _victims(make_instance, HaPriority.HIGH, HaPriority.MEDIUM, HaPriority.LOW))

    plan = ha.plan_restarts("dead", snap, POLICY, FENCED)

    assert len(plan.wakes) == 1
    assert {m.target_host for m in plan.restarts} == set(plan.wakes)
    assert len(plan.restarts) == 3


def test_hosts_are_woken_in_priority_order(make_host, make_instance):
    # Each sleeper takes one instance; the high-priority one's host comes first.
    hosts = (
        make_host("dead"),
        make_host("alive", memory_mb=8192),
        make_host("sleeper-1", state=HostPowerState.STANDBY, memory_mb=20480),
        make_host("sleeper-2", state=HostPowerState.STANDBY, memory_mb=20480),
    )
    snap = Snapshot(hosts, _victims(make_instance, HaPriority.LOW, HaPriority.HIGH))

    plan = ha.plan_restarts("dead", snap, POLICY, FENCED)

    targets = {m.instance_id: m.target_host for m in plan.restarts}
    assert plan.wakes == (targets["vm-high"], targets["vm-low"])
    assert targets["vm-high"] != targets["vm-low"]


def test_a_restart_no_host_takes_even_woken_says_why_the_standby_host_would_not_do(make_host, make_instance):
    hosts = (
        make_host("dead"),
        make_host("alive", memory_mb=8192),
        make_host("sleeper", state=HostPowerState.STANDBY, memory_mb=8192),
        make_host("broken", state=HostPowerState.DOWN),
    )
    snap = Snapshot(hosts, _victims(make_instance, HaPriority.HIGH))

    plan = ha.plan_restarts("dead", snap, POLICY, FENCED)

    assert plan.restarts == () and plan.wakes == ()
    reasons = {r.host_id: r.filter for r in plan.unplaced[0].rejections}
    assert reasons == {
        "dead": FilterName.HOST_STATE,
        "alive": FilterName.MEMORY,
        "sleeper": FilterName.MEMORY,
        "broken": FilterName.HOST_STATE,
    }
