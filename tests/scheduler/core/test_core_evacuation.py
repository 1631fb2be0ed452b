"""Evacuation (maintenance): the host's instances move off it, the largest first; what no
powered-on host takes goes to a standby host to wake, one wake per host."""

from scheduler.core.evacuation import plan_evacuation
from scheduler.core.model import ClusterPolicy, FilterName, HostPowerState, MoveReason, Snapshot

POLICY = ClusterPolicy()


def _leaving(make_instance, *sizes_mb):
    return tuple(make_instance(f"vm-{n}", "old", memory_mb=mb) for n, mb in enumerate(sizes_mb))


def test_an_evacuation_with_no_room_wakes_a_standby_host(make_host, make_instance):
    hosts = (make_host("old"), make_host("alive", memory_mb=20480), make_host("sleeper", state=HostPowerState.STANDBY))
    snap = Snapshot(hosts, _leaving(make_instance, 16384, 16384, 4096))

    plan = plan_evacuation("old", snap, POLICY)

    assert plan.wakes == ("sleeper",) and plan.unplaced == ()
    assert {m.reason for m in plan.moves} == {MoveReason.EVACUATE}
    targets = sorted(m.target_host for m in plan.moves)
    assert targets.count("sleeper") >= 1 and len(targets) == 3


def test_an_evacuation_that_fits_on_running_hosts_wakes_nothing(make_host, make_instance):
    hosts = (make_host("old"), make_host("alive"), make_host("sleeper", state=HostPowerState.STANDBY))
    snap = Snapshot(hosts, _leaving(make_instance, 8192, 4096))

    plan = plan_evacuation("old", snap, POLICY)

    assert plan.wakes == () and {m.target_host for m in plan.moves} == {"alive"}


def test_it_moves_only_the_instances_asked_for(make_host, make_instance):
    hosts = (make_host("old"), make_host("alive", memory_mb=8192), make_host("sleeper", state=HostPowerState.STANDBY))
    snap = Snapshot(hosts, _leaving(make_instance, 4096, 32768))

    plan = plan_evacuation("old", snap, POLICY, instance_ids=["vm-0"])

    assert [(m.instance_id, m.target_host) for m in plan.moves] == [("vm-0", "alive")]
    assert plan.wakes == ()


def test_what_no_host_takes_even_woken_is_unplaced_with_the_reason(make_host, make_instance):
    hosts = (
        make_host("old", memory_mb=131072),
        make_host("alive", memory_mb=8192),
        make_host("sleeper", state=HostPowerState.STANDBY),
    )
    snap = Snapshot(hosts, _leaving(make_instance, 100000))

    plan = plan_evacuation("old", snap, POLICY)

    assert plan.moves == () and plan.wakes == ()
    assert {r.host_id: r.filter for r in plan.unplaced[0].rejections}["sleeper"] == FilterName.MEMORY
