"""Collector maths: rates from counters, counter resets, CPU %, memory and host CPU split."""

import pytest

from compute.metrics import maths

NS = maths.NS_PER_S


def test_a_rate_is_the_increase_per_second():
    assert maths.rate(1_000, 6_000, 10) == 500


def test_after_a_reset_the_counter_counts_from_zero():
    # 9,000 before, 2,000 now: the domain restarted; 2,000 happened since.
    assert maths.counter_delta(9_000, 2_000) == 2_000
    assert maths.rate(9_000, 2_000, 10) == 200


@pytest.mark.parametrize("previous, current, seconds", [(None, 5, 10), (5, None, 10), (1, 5, 0), (1, 5, -3)])
def test_no_rate_without_two_readings_over_time(previous, current, seconds):
    assert maths.rate(previous, current, seconds) is None


def test_cpu_percent_is_per_vcpu_and_clamped():
    assert maths.cpu_percent(0, 5 * NS, 10, 1) == pytest.approx(50)
    assert maths.cpu_percent(0, 5 * NS, 10, 2) == pytest.approx(25)
    assert maths.cpu_percent(0, 50 * NS, 10, 1) == 100  # clock skew cannot make it exceed 100
    assert maths.cpu_percent(0, 5 * NS, 10, 0) is None


def reading(ts, cpu, rx, rss=1024 * 512, vcpus=2):
    return {
        "ts": ts,
        "cpu_time_ns": cpu,
        "vcpus": vcpus,
        "balloon_current_kib": 1024 * 1024,
        "balloon_available_kib": 1000 * 1024,
        "balloon_unused_kib": 256 * 1024,
        "balloon_rss_kib": rss,
        "net_rx_bytes": rx,
        "net_tx_bytes": rx // 2,
        "net_rx_packets": rx // 1000,
        "net_tx_packets": 0,
        "block_rd_bytes": 0,
        "block_wr_bytes": 4096 * 10,
        "block_rd_reqs": 0,
        "block_wr_reqs": 10,
    }


def test_the_first_reading_gives_gauges_but_no_rates():
    values = maths.derive_instance(None, reading(100, 5 * NS, 1_000_000))
    assert values["mem_used_mb"] == 512 and values["mem_balloon_mb"] == 1024 and values["mem_available_mb"] == 1000
    assert values["cpu_pct"] is None and values["net_rx_bps"] is None


def test_the_second_reading_gives_rates():
    values = maths.derive_instance(reading(100, 5 * NS, 1_000_000), reading(110, 15 * NS, 3_000_000))
    assert values["cpu_pct"] == pytest.approx(50)  # 10 s of CPU over 10 s on 2 vCPUs
    assert values["net_rx_bps"] == 200_000 and values["net_tx_bps"] == 100_000 and values["net_rx_pps"] == 200
    assert values["disk_write_bps"] == 0 and values["disk_write_iops"] == 0


def test_a_restarted_domain_gives_rates_from_zero_not_negative_ones():
    values = maths.derive_instance(reading(100, 500 * NS, 9_000_000), reading(110, 2 * NS, 1_000_000))
    assert values["cpu_pct"] == pytest.approx(10) and values["net_rx_bps"] == 100_000


def test_memory_used_falls_back_to_balloon_minus_unused_without_rss():
    values = maths.derive_instance(None, reading(100, 0, 0, rss=None))
    assert values["mem_used_mb"] == 768


def node(ts, user, kernel, idle, iowait=0, total=8 * 1024 * 1024, free=2 * 1024 * 1024):
    return {
        "ts": ts,
        "cpus": 4,
        "cpu_user_ns": user,
        "cpu_kernel_ns": kernel,
        "cpu_idle_ns": idle,
        "cpu_iowait_ns": iowait,
        "memory_total_kib": total,
        "memory_free_kib": free,
    }


def test_host_cpu_is_busy_time_over_all_time_and_load_counts_busy_cpus():
    values = maths.derive_host(node(0, 0, 0, 0), node(10, 8 * NS, 2 * NS, 28 * NS, 2 * NS), running=3)
    assert values["cpu_pct"] == pytest.approx(25) and values["load"] == pytest.approx(1.0)
    assert values["mem_used_mb"] == 6 * 1024 and values["mem_free_mb"] == 2 * 1024 and values["running_instances"] == 3


def test_a_rebooted_host_does_not_report_negative_cpu():
    values = maths.derive_host(node(0, 900 * NS, 90 * NS, 900 * NS), node(10, 3 * NS, 1 * NS, 36 * NS), running=0)
    assert values["cpu_pct"] == pytest.approx(10)
