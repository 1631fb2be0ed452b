from hypervisor import bulk_domain_stats, domain_start, node_stats
from hypervisor.stats import _real_record
from hypervisor.workload import activity, domain_counters, profile

NOON = 1_780_000_000.0
COUNTERS = (
    "cpu_time_ns",
    "net_rx_bytes",
    "net_tx_bytes",
    "net_rx_packets",
    "net_tx_packets",
    "block_rd_bytes",
    "block_wr_bytes",
    "block_rd_reqs",
    "block_wr_reqs",
)


def test_simulated_stats_are_deterministic_for_a_given_time(host_a, small_domain):
    domain_start(host_a, small_domain)
    first = bulk_domain_stats(host_a, at=NOON)
    assert first == bulk_domain_stats(host_a, at=NOON)
    assert first[0].simulated and first[0].cpu_time_ns > 0


def test_simulated_counters_never_go_backwards_over_a_day():
    previous = domain_counters("uuid-1", 2, 1048576, NOON)
    for step in range(1, 2000):
        current = domain_counters("uuid-1", 2, 1048576, NOON + step * 43.2)
        assert all(current[k] >= previous[k] for k in COUNTERS)
        previous = current


def test_the_workload_follows_a_daily_cycle_with_bursts():
    p = profile("uuid-1/cpu")
    rates = [activity(p, NOON + minute * 60) for minute in range(24 * 60)]
    assert max(rates) > 1.5 * min(rates) > 0
    assert max(rates) <= 1.0


def test_different_domains_get_different_workloads():
    assert domain_counters("a", 1, 1024, NOON) != domain_counters("b", 1, 1024, NOON)


def test_stopped_domains_have_no_counters(host_a, small_domain):
    [record] = bulk_domain_stats(host_a, at=NOON)
    assert (record.state, record.cpu_time_ns) == ("shutoff", None)


def test_node_stats_count_running_guests_memory(host_a, small_domain):
    domain_start(host_a, small_domain)
    stats = node_stats(host_a, at=NOON)
    assert stats.memory_total_kib - stats.memory_free_kib == 524288
    later = node_stats(host_a, at=NOON + 60)
    assert later.cpu_idle_ns > stats.cpu_idle_ns and later.cpu_user_ns > stats.cpu_user_ns


class RealDomain:
    def UUIDString(self):
        return "u-1"

    def name(self):
        return "vm"


def test_real_records_sum_every_nic_and_disk():
    record = _real_record(
        RealDomain(),
        {
            "state.state": 1,
            "cpu.time": 5,
            "balloon.current": 1024,
            "balloon.rss": 512,
            "net.count": 2,
            "net.0.rx.bytes": 100,
            "net.1.rx.bytes": 20,
            "net.0.tx.pkts": 3,
            "block.count": 2,
            "block.0.wr.bytes": 7,
            "block.1.wr.bytes": 8,
        },
        1.0,
    )
    assert (record.state, record.net_rx_bytes, record.net_tx_packets) == ("running", 120, 3)
    assert (record.block_wr_bytes, record.block_rd_bytes, record.simulated) == (15, None, False)
