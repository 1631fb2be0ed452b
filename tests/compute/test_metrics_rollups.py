"""Rollups and retention: complete 1-minute and 10-minute buckets are averaged once; samples
older than their resolution's retention are pruned."""

import pytest

from compute.metrics import rollups
from compute.models import HostSample, InstanceSample
from compute.models.metrics import ONE_MINUTE, RAW, TEN_MINUTES

T0 = 1_790_000_400  # a multiple of 600: buckets start here


@pytest.fixture
def host(hosts):
    return hosts[0]


def raw(host, seconds, cpu):
    HostSample.objects.create(
        host=host, ts=T0 + seconds, resolution=RAW, cpu_pct=cpu, mem_used_mb=100.0, simulated=True
    )


def test_complete_minutes_are_averaged(host):
    for second, cpu in ((0, 10.0), (20, 20.0), (40, 30.0), (60, 50.0), (70, 70.0), (130, 99.0)):
        raw(host, second, cpu)
    written = rollups.rollup(rollups.SERIES[1], RAW, ONE_MINUTE, now=T0 + 125)
    minutes = list(HostSample.objects.filter(resolution=ONE_MINUTE).order_by("ts").values_list("ts", "cpu_pct"))
    assert written == 2 and minutes == [(T0, 20.0), (T0 + 60, 60.0)]  # the third minute is not complete yet
    assert HostSample.objects.filter(resolution=ONE_MINUTE, simulated=True).count() == 2


def test_running_it_again_adds_nothing_and_continues_later(host):
    for second in range(0, 180, 10):
        raw(host, second, 40.0)
    assert rollups.rollup(rollups.SERIES[1], RAW, ONE_MINUTE, now=T0 + 120) == 2
    assert rollups.rollup(rollups.SERIES[1], RAW, ONE_MINUTE, now=T0 + 120) == 0
    assert rollups.rollup(rollups.SERIES[1], RAW, ONE_MINUTE, now=T0 + 180) == 1
    assert HostSample.objects.filter(resolution=ONE_MINUTE).count() == 3


def test_ten_minute_buckets_come_from_the_minutes(host):
    for minute in range(20):
        HostSample.objects.create(host=host, ts=T0 + 60 * minute, resolution=ONE_MINUTE, cpu_pct=float(minute // 10))
    rollups.rollup(rollups.SERIES[1], ONE_MINUTE, TEN_MINUTES, now=T0 + 1200)
    assert list(HostSample.objects.filter(resolution=TEN_MINUTES).order_by("ts").values_list("cpu_pct", flat=True)) == [
        0.0,
        1.0,
    ]


def test_instance_samples_roll_up_per_instance(launch):
    _response, first = launch(name="a")
    _response, second = launch(name="b")
    for instance, cpu in ((first, 10.0), (second, 90.0)):
        for second_ in (0, 30):
            InstanceSample.objects.create(instance=instance, ts=T0 + second_, cpu_pct=cpu)
    rollups.rollup(rollups.SERIES[0], RAW, ONE_MINUTE, now=T0 + 60)
    rows = dict(InstanceSample.objects.filter(resolution=ONE_MINUTE).values_list("instance_id", "cpu_pct"))
    assert rows == {first.pk: 10.0, second.pk: 90.0}


def test_pruning_keeps_each_resolution_for_its_retention(host, settings):
    settings.NUBES_METRICS_RAW_RETENTION = 3600
    settings.NUBES_METRICS_1M_RETENTION = 86_400
    now = T0 + 100_000
    HostSample.objects.create(host=host, ts=now - 3700, resolution=RAW)
    HostSample.objects.create(host=host, ts=now - 3500, resolution=RAW)
    HostSample.objects.create(host=host, ts=now - 3700, resolution=ONE_MINUTE)
    HostSample.objects.create(host=host, ts=now - 90_000, resolution=ONE_MINUTE)
    HostSample.objects.create(host=host, ts=now - 90_000, resolution=TEN_MINUTES)
    assert rollups.prune(now) == 2
    assert sorted(HostSample.objects.values_list("resolution", "ts")) == [
        (RAW, now - 3500),
        (ONE_MINUTE, now - 3700),
        (TEN_MINUTES, now - 90_000),
    ]


def test_rollups_run_before_pruning_so_no_minute_is_lost(host, settings):
    settings.NUBES_METRICS_RAW_RETENTION = 60
    for second in (0, 30):
        raw(host, second, 42.0)
    result = rollups.rollup_and_prune(T0 + 600)
    assert result["deleted"] == 2 and HostSample.objects.get(resolution=ONE_MINUTE).cpu_pct == 42.0
