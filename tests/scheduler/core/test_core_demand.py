import pytest

from scheduler.core.model import ClusterPolicy, DemandEstimator, Snapshot
from scheduler.core.state import ClusterIndex, estimate_demand, migration_cost_s

SAMPLES = (100.0, 100.0, 100.0, 100.0, 900.0)


def test_the_percentile_estimate_ignores_a_lone_spike_in_the_window():
    policy = ClusterPolicy(demand_percentile=80.0, demand_window=5)

    assert estimate_demand(SAMPLES, policy) == 100.0
    assert estimate_demand(SAMPLES, ClusterPolicy(demand_percentile=100.0)) == 900.0


def test_the_estimate_only_reads_the_window():
    policy = ClusterPolicy(demand_percentile=100.0, demand_window=2)

    assert estimate_demand((5000.0, 10.0, 20.0), policy) == 20.0


def test_the_ewma_moves_toward_new_samples_by_alpha():
    policy = ClusterPolicy(demand_estimator=DemandEstimator.EWMA, ewma_alpha=0.5)

    assert estimate_demand((100.0, 300.0), policy) == pytest.approx(200.0)


def test_host_load_counts_demand_but_never_below_the_reservation(make_host, make_instance):
    host = make_host("h", cpus=2, mhz=1000.0)
    reserved = make_instance("r", "h", demand=100, reservation_mhz=500.0)

    index = ClusterIndex(Snapshot((host,), (reserved,)), ClusterPolicy())

    assert index.usage["h"].cpu_load == pytest.approx(0.25)


def test_a_dirty_instance_costs_more_to_migrate(make_instance):
    policy = ClusterPolicy(migration_bandwidth_mb_s=100.0)
    calm = make_instance("calm", "h", memory_mb=1000)
    dirty = make_instance("dirty", "h", memory_mb=1000, dirty_rate_mb_s=50.0)

    assert migration_cost_s(calm, policy) == pytest.approx(10.0)
    assert migration_cost_s(dirty, policy) == pytest.approx(20.0)


def test_a_host_s_demand_is_the_percentile_of_its_summed_load_not_the_sum_of_percentiles(make_host, make_instance):
    # Two instances that take turns: each peaks at 1000 MHz half of the time, never together.
    turns = (1000.0, 0.0) * 6
    hosts = (make_host("h"),)
    instances = (
        make_instance("a", "h", cpu_demand_mhz=turns),
        make_instance("b", "h", cpu_demand_mhz=turns[1:] + turns[:1]),
    )
    snap = Snapshot(hosts, instances)

    summed = ClusterIndex(snap, ClusterPolicy(aggregate_host_demand=False))
    aggregated = ClusterIndex(snap, ClusterPolicy())

    assert summed.usage["h"].demand_mhz == pytest.approx(2000.0)
    assert aggregated.usage["h"].demand_mhz == pytest.approx(1000.0)


def test_moving_an_instance_re_estimates_both_hosts_from_their_summed_load(make_host, make_instance):
    turns = (1000.0, 0.0) * 6
    hosts = (make_host("h"), make_host("g"))
    instances = (
        make_instance("a", "h", cpu_demand_mhz=turns),
        make_instance("b", "g", cpu_demand_mhz=turns[1:] + turns[:1]),
    )
    index = ClusterIndex(Snapshot(hosts, instances), ClusterPolicy())

    index.move("b", "h")

    assert index.usage["h"].demand_mhz == pytest.approx(1000.0)
    assert index.usage["g"].demand_mhz == 0.0
