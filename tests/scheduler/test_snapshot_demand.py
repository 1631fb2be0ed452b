"""The snapshot's CPU demand comes from compute's metrics samples, smoothed per interval over
the DRS window; without samples an instance's demand is its CPU reservation."""

import pytest

from compute.models import InstanceSample
from compute.models.metrics import RAW
from scheduler import snapshot
from scheduler.core.state import index_for

NOW = 1_700_000_000
PERCENT = 100.0


def _samples(instance, values, every=60):
    """Raw samples, newest ending just before NOW, one every `every` seconds."""
    start = NOW - len(values) * every
    InstanceSample.objects.bulk_create(
        InstanceSample(instance=instance, ts=start + k * every, resolution=RAW, cpu_pct=v) for k, v in enumerate(values)
    )


def test_demand_is_the_instance_s_cpu_samples_in_mhz_of_its_host(cluster, hosts, make_instance, settings):
    settings.NUBES_METRICS_RAW_RETENTION = 3 * 3600
    busy = make_instance(hosts[0], "busy", vcpus=2)
    _samples(busy, [50.0] * 120)  # two hours at half of its two vCPUs

    view = snapshot.build(cluster, now=NOW)

    history = next(i for i in view.snapshot.instances if i.id == str(busy.pk)).cpu_demand_mhz
    expected = 0.5 * 2 * hosts[0].mhz
    # DPM judges standby on a longer history than DRS smooths over: the snapshot holds the longer
    assert view.policy.dpm_standby_window > view.policy.demand_window
    assert len(history) == view.policy.dpm_standby_window
    assert history == pytest.approx((expected,) * len(history))
    assert index_for(view.snapshot, view.policy).demand[str(busy.pk)] == pytest.approx(expected)


def test_a_lone_spike_among_the_samples_does_not_make_the_demand(cluster, hosts, make_instance, settings):
    settings.NUBES_METRICS_RAW_RETENTION = 2 * 3600
    spiky = make_instance(hosts[0], "spiky", vcpus=1)
    _samples(spiky, [10.0] * 55 + [100.0] * 5)  # the last five minutes at full speed

    view = snapshot.build(cluster, now=NOW)

    demand = index_for(view.snapshot, view.policy).demand[str(spiky.pk)]
    assert demand == pytest.approx(10.0 / PERCENT * hosts[0].mhz)


def test_an_instance_without_samples_counts_its_cpu_reservation(cluster, hosts, make_instance):
    quiet = make_instance(hosts[0], "quiet")
    quiet.flavor.cpu_reservation_mhz = 700
    quiet.flavor.save()

    view = snapshot.build(cluster, now=NOW)

    state = next(i for i in view.snapshot.instances if i.id == str(quiet.pk))
    assert state.cpu_demand_mhz == ()
    assert index_for(view.snapshot, view.policy).demand[str(quiet.pk)] == pytest.approx(700.0)
