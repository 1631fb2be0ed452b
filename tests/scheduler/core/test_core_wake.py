"""Wake-on-demand: the standby host to power on when no powered-on host takes an instance."""

from scheduler.core.model import ClusterPolicy, FilterName, HostPowerState, Snapshot
from scheduler.core.placement import PlacementRequest, place
from scheduler.core.wake import standby_host_to_wake

POLICY = ClusterPolicy()
BIG_MB = 40000


def _full_cluster(make_host, make_instance, *sleepers):
    """h0 is on and nearly full of memory; the sleepers are in standby (or waking)."""
    hosts = (make_host("h0"), *sleepers)
    return hosts, (make_instance("i0", "h0", memory_mb=60000),)


def test_it_wakes_a_standby_host_that_would_take_what_no_running_host_can(make_host, make_instance):
    hosts, instances = _full_cluster(make_host, make_instance, make_host("h1", state=HostPowerState.STANDBY))
    snap = Snapshot(hosts, instances)
    request = PlacementRequest(make_instance("new", None, memory_mb=BIG_MB))
    assert not place(request, snap, POLICY).ok

    result = standby_host_to_wake(request, snap, POLICY)

    assert result.host_id == "h1"


def test_it_wakes_none_when_no_standby_host_would_pass_the_filters(make_host, make_instance):
    hosts, instances = _full_cluster(
        make_host, make_instance, make_host("h1", state=HostPowerState.STANDBY, memory_mb=32768)
    )
    snap = Snapshot(hosts, instances)

    result = standby_host_to_wake(PlacementRequest(make_instance("new", None, memory_mb=BIG_MB)), snap, POLICY)

    assert result.host_id is None
    assert [(r.host_id, r.filter) for r in result.rejections] == [("h1", FilterName.MEMORY)]


def test_it_never_offers_a_host_that_is_down_or_in_maintenance(make_host, make_instance):
    hosts, instances = _full_cluster(
        make_host,
        make_instance,
        make_host("h1", state=HostPowerState.DOWN),
        make_host("h2", state=HostPowerState.MAINTENANCE),
    )
    snap = Snapshot(hosts, instances)

    result = standby_host_to_wake(PlacementRequest(make_instance("new", None, memory_mb=BIG_MB)), snap, POLICY)

    assert result.host_id is None and result.rejections == ()


def test_it_prefers_a_host_already_waking(make_host, make_instance):
    bigger = make_host("h1", state=HostPowerState.STANDBY, memory_mb=131072)
    waking = make_host("h2", state=HostPowerState.WAKING)
    hosts, instances = _full_cluster(make_host, make_instance, bigger, waking)
    snap = Snapshot(hosts, instances)

    result = standby_host_to_wake(PlacementRequest(make_instance("new", None, memory_mb=BIG_MB)), snap, POLICY)

    assert result.host_id == "h2"


def test_it_keeps_to_the_request_s_candidate_hosts(make_host, make_instance):
    hosts, instances = _full_cluster(
        make_host,
        make_instance,
        make_host("h1", state=HostPowerState.STANDBY),
        make_host("h2", state=HostPowerState.STANDBY),
    )
    snap = Snapshot(hosts, instances)
    request = PlacementRequest(make_instance("new", None, memory_mb=BIG_MB), candidate_hosts=frozenset({"h2"}))

    assert standby_host_to_wake(request, snap, POLICY).host_id == "h2"
