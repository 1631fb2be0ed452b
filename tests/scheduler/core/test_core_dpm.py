from dataclasses import replace

from scheduler.core import dpm
from scheduler.core.model import (
    ClusterPolicy,
    HaAdmissionPolicy,
    HostPowerState,
    MoveReason,
    PowerActionKind,
    Rule,
    RuleKind,
    RuleStrength,
    Snapshot,
)

DPM = ClusterPolicy(dpm_enabled=True, ha_admission=HaAdmissionPolicy.DISABLED, dpm_min_hosts_on=1)


def _quiet_cluster(make_host, make_instance, hosts=3):
    """Three hosts at about 10 % each: far below the 45-81 % range."""
    host_list = tuple(make_host(f"h{n}") for n in range(hosts))
    instances = tuple(make_instance(f"i{n}", f"h{n}", demand=3200) for n in range(hosts))
    return host_list, instances


def test_it_evacuates_one_host_and_puts_it_in_standby_below_the_range(make_host, make_instance):
    hosts, instances = _quiet_cluster(make_host, make_instance)
    extra = make_instance("i0b", "h0", demand=100)  # h0 is now the costliest to empty
    snap = Snapshot(hosts, (*instances, extra))

    plan = dpm.plan(snap, DPM)

    assert [(a.host_id, a.action) for a in plan.power_actions] == [("h1", PowerActionKind.STANDBY)]
    assert [(m.instance_id, m.source_host, m.reason) for m in plan.moves] == [("i1", "h1", MoveReason.EVACUATE)]
    assert plan.moves[0].target_host in {"h0", "h2"}
    assert plan.utilisation_after > plan.utilisation_before


def test_it_keeps_a_host_woken_recently_on(make_host, make_instance):
    hosts, instances = _quiet_cluster(make_host, make_instance)
    extra = make_instance("i0b", "h0", demand=100)
    snap = Snapshot(hosts, (*instances, extra))

    plan = dpm.plan(snap, DPM, held=frozenset({"h1"}))

    assert [a.host_id for a in plan.power_actions] == ["h2"]
    assert "h1" not in {m.source_host for m in plan.moves}
    assert any("held on: h1" in note for note in plan.notes)


def test_it_keeps_the_minimum_hosts_on(make_host, make_instance):
    hosts, instances = _quiet_cluster(make_host, make_instance)
    snap = Snapshot(hosts, instances)
    keep_three = ClusterPolicy(dpm_enabled=True, ha_admission=HaAdmissionPolicy.DISABLED, dpm_min_hosts_on=3)

    plan = dpm.plan(snap, keep_three)

    assert plan.power_actions == ()
    assert plan.moves == ()
    assert any("minimum of 3 hosts" in note for note in plan.notes)


def test_it_keeps_failover_capacity_when_choosing_standby(make_host, make_instance):
    hosts = (make_host("h0"), make_host("h1"))
    instances = (
        make_instance("i0", "h0", demand=3000, memory_mb=20000),
        make_instance("i1", "h1", demand=3000, memory_mb=20000),
    )
    snap = Snapshot(hosts, instances)
    with_ha = ClusterPolicy(dpm_enabled=True, ha_admission=HaAdmissionPolicy.HOST_FAILURES, ha_host_failures=1)

    assert dpm.plan(snap, with_ha).power_actions == ()
    assert len(dpm.plan(snap, DPM).power_actions) == 1


def test_it_does_not_evacuate_a_host_an_instance_must_stay_on(make_host, make_instance):
    hosts = tuple(make_host(f"h{n}") for n in range(3))
    instances = (
        make_instance("i0", "h0", demand=3200),
        make_instance("i1", "h1", demand=3200, memory_mb=1024),  # cheapest to move
        make_instance("i2", "h2", demand=3200),
    )
    stay = Rule("i1-on-h1", RuleKind.VM_HOST_AFFINITY, RuleStrength.MUST, frozenset({"i1"}), frozenset({"h1"}))
    snap = Snapshot(hosts, instances, rules=(stay,))

    plan = dpm.plan(snap, DPM)

    assert [a.host_id for a in plan.power_actions] == ["h0"]
    assert any("h1: an instance has no valid host" in note for note in plan.notes)


def test_it_wakes_a_standby_host_when_utilisation_is_above_the_range(make_host, make_instance):
    hosts = (make_host("up"), make_host("sleepy", state=HostPowerState.STANDBY))
    instances = (make_instance("busy", "up", demand=30000, vcpus=16),)
    snap = Snapshot(hosts, instances)

    plan = dpm.plan(snap, DPM)

    assert [(a.host_id, a.action) for a in plan.power_actions] == [("sleepy", PowerActionKind.WAKE)]
    assert plan.moves == ()


def test_it_wakes_a_host_before_a_rising_load_needs_it(make_host, make_instance):
    hosts = (make_host("up"), make_host("sleepy", state=HostPowerState.STANDBY))
    rising = tuple(8000.0 + 1500.0 * k for k in range(12))  # 8 -> 24.5 GHz, still in range
    snap = Snapshot(hosts, (make_instance("x", "up", cpu_demand_mhz=rising, vcpus=16),))
    flat = Snapshot(hosts, (make_instance("x", "up", demand=rising[-1], vcpus=16),))

    plan = dpm.plan(snap, DPM)

    assert plan.utilisation_before < DPM.dpm_target_high
    assert plan.projected_utilisation > DPM.dpm_target_high
    assert [a.action for a in plan.power_actions] == [PowerActionKind.WAKE]
    assert dpm.plan(flat, DPM).power_actions == ()


def test_it_does_nothing_when_disabled(make_host, make_instance):
    hosts, instances = _quiet_cluster(make_host, make_instance)
    plan = dpm.plan(Snapshot(hosts, instances), ClusterPolicy(dpm_enabled=False))

    assert plan.power_actions == () and plan.moves == ()
    assert plan.notes == ("DPM disabled",)


def test_it_empties_an_under_utilised_host_while_the_cluster_as_a_whole_is_in_range(make_host, make_instance):
    hosts = tuple(make_host(f"h{n}") for n in range(3))
    busy = tuple(make_instance(f"b{n}", f"h{n}", demand=22000, vcpus=16) for n in range(2))
    light = make_instance("light", "h2", demand=2000)
    snap = Snapshot(hosts, (*busy, light))

    plan = dpm.plan(snap, DPM)

    assert DPM.dpm_target_low < plan.utilisation_before < DPM.dpm_target_high
    assert [(a.host_id, a.action) for a in plan.power_actions] == [("h2", PowerActionKind.STANDBY)]
    assert [(m.instance_id, m.reason) for m in plan.moves] == [("light", MoveReason.EVACUATE)]


def test_it_does_not_empty_a_host_the_others_cannot_take_under_the_range_s_top(make_host, make_instance):
    hosts = tuple(make_host(f"h{n}") for n in range(3))
    busy = tuple(make_instance(f"b{n}", f"h{n}", demand=24000, vcpus=16) for n in range(2))
    light = make_instance("light", "h2", demand=3000)

    plan = dpm.plan(Snapshot(hosts, (*busy, light)), DPM)

    assert plan.power_actions == () and plan.moves == ()


def test_it_wakes_a_host_when_an_overloaded_host_has_nowhere_to_shed_load(make_host, make_instance):
    hosts = (make_host("a"), make_host("b"), make_host("sleepy", state=HostPowerState.STANDBY))
    instances = (make_instance("x", "a", demand=33000, vcpus=16), make_instance("y", "b", demand=14000, vcpus=16))

    plan = dpm.plan(Snapshot(hosts, instances), DPM)

    assert plan.utilisation_before < DPM.dpm_target_high
    assert [(a.host_id, a.action) for a in plan.power_actions] == [("sleepy", PowerActionKind.WAKE)]


def _calm_after_a_peak(make_host, make_instance):
    """Three hosts at 25 % for the last hour, at 62 % the hour before."""
    hosts = tuple(make_host(f"h{n}") for n in range(3))
    history = (20000.0,) * 12 + (8000.0,) * 12
    instances = tuple(make_instance(f"i{n}", f"h{n}", cpu_demand_mhz=history, vcpus=8) for n in range(3))
    return Snapshot(hosts, instances)


def test_it_does_not_put_a_host_in_standby_while_the_standby_window_still_holds_a_peak(make_host, make_instance):
    snap = _calm_after_a_peak(make_host, make_instance)

    judged_on_the_last_hour = dpm.plan(snap, replace(DPM, dpm_standby_window=12))
    judged_on_two_hours = dpm.plan(snap, DPM)

    assert [a.action for a in judged_on_the_last_hour.power_actions] == [PowerActionKind.STANDBY]
    assert judged_on_two_hours.power_actions == ()
    assert any("last 24 samples" in note for note in judged_on_two_hours.notes)


def test_it_does_not_put_a_host_in_standby_that_the_trend_needs_within_the_lookahead(make_host, make_instance):
    hosts = tuple(make_host(f"h{n}") for n in range(3))
    rising = tuple(3000.0 + 1000.0 * k for k in range(12))  # +3,000 MHz a sample in all
    instances = tuple(make_instance(f"i{n}", f"h{n}", cpu_demand_mhz=rising, vcpus=8) for n in range(3))
    snap = Snapshot(hosts, instances)

    fifteen_minutes_ahead = dpm.plan(snap, replace(DPM, dpm_standby_lookahead=3))
    half_an_hour_ahead = dpm.plan(snap, DPM)

    assert [a.action for a in fifteen_minutes_ahead.power_actions] == [PowerActionKind.STANDBY]
    assert half_an_hour_ahead.power_actions == ()
