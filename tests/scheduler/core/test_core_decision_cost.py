"""What one decision costs: the planners ask placement only where an answer is possible.

A crowded 800-host cluster made a single DRS or DPM step take seconds (PlanetLab replay):
each failed placement walked every host, standby ones included.
"""

import pytest

from scheduler.core import dpm, drs
from scheduler.core.model import (
    ClusterPolicy,
    HaAdmissionPolicy,
    HostPowerState,
    PowerActionKind,
    Snapshot,
)
from scheduler.core.placement import HostChecker

RELIEF_ONLY = ClusterPolicy(drs_threshold=1)
DPM = ClusterPolicy(dpm_enabled=True, ha_admission=HaAdmissionPolicy.DISABLED, dpm_min_hosts_on=1)


@pytest.fixture
def host_checks(monkeypatch):
    """Counts placement's per-host filter passes."""
    calls = []
    check = HostChecker.check

    def counting(self, usage):
        calls.append(usage.host.id)
        return check(self, usage)

    monkeypatch.setattr(HostChecker, "check", counting)
    return calls


def test_overload_relief_asks_placement_nothing_when_no_host_has_room(make_host, make_instance, host_checks):
    hosts = (
        make_host("hot"),
        make_host("full"),
        *(make_host(f"s{n}", state=HostPowerState.STANDBY) for n in range(20)),
    )
    instances = (
        *(make_instance(f"i{n}", "hot", demand=9000, vcpus=8) for n in range(4)),
        make_instance("f", "full", demand=28000, vcpus=16),
    )

    result = drs.recommend(Snapshot(hosts, instances), RELIEF_ONLY)

    assert result.moves == ()
    assert host_checks == []


def test_overload_relief_still_moves_what_fits_somewhere(make_host, make_instance, host_checks):
    hosts = (
        make_host("hot"),
        make_host("half"),
        *(make_host(f"s{n}", state=HostPowerState.STANDBY) for n in range(20)),
    )
    instances = (
        *(make_instance(f"i{n}", "hot", demand=9000, vcpus=8) for n in range(4)),
        make_instance("h", "half", demand=16000, vcpus=16),
    )

    result = drs.recommend(Snapshot(hosts, instances), RELIEF_ONLY)

    assert [m.target_host for m in result.moves] == ["half"]
    assert set(host_checks) == {"half"}


def test_emptying_a_host_for_standby_checks_only_the_hosts_that_are_up(make_host, make_instance, host_checks):
    hosts = (
        make_host("busy"),
        make_host("light"),
        *(make_host(f"s{n}", state=HostPowerState.STANDBY) for n in range(20)),
    )
    instances = (
        make_instance("b", "busy", demand=12000),
        *(make_instance(f"l{n}", "light", demand=300) for n in range(5)),
    )

    plan = dpm.plan(Snapshot(hosts, instances), DPM)

    assert [(a.host_id, a.action) for a in plan.power_actions] == [("light", PowerActionKind.STANDBY)]
    assert len(plan.moves) == 5
    assert set(host_checks) == {"busy"}
