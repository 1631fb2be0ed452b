"""The balloon policy: on a host short of free memory it lowers the balloon targets of idle
instances a step at a time toward a floor, and gives back what it took once memory frees; each
change is a set_balloon Operation with an InstanceEvent saying why. Plan unit-tested on data,
the beat task run on simulated hosts."""

import time

import pytest

import hypervisor as hv
from compute import beat
from compute.models import InstanceEvent, InstanceSample
from compute.tasks import overcommit as overcommit_tasks
from compute.tasks.overcommit import BalloonPolicy, Guest
from portal.models import Operation

POLICY = BalloonPolicy(low_free_pct=10, high_free_pct=25, floor_pct=50, step_pct=10, idle_cpu_pct=10)


def guest(pk, cpu, ram=2048, balloon=None, owned=False):
    return Guest(instance_id=pk, ram_mb=ram, balloon_mb=balloon or ram, cpu_pct=cpu, owned=owned)


def test_short_of_memory_it_squeezes_idle_guests_only_the_most_idle_first():
    changes = overcommit_tasks.plan(10000, 500, [guest(1, 80.0), guest(2, 5.0), guest(3, 1.0), guest(4, None)], POLICY)
    assert [(c.instance_id, c.memory_mb, c.policy) for c in changes] == [(3, 1844, "reclaim"), (2, 1844, "reclaim")]
    assert "host free 5.0% < 10%" in changes[0].reason and "1.0% CPU" in changes[0].reason


def test_it_stops_once_enough_is_reclaimed_and_never_goes_below_the_floor():
    assert len(overcommit_tasks.plan(10000, 900, [guest(1, 1.0), guest(2, 2.0)], POLICY)) == 1  # 100 MB needed
    at_floor = overcommit_tasks.plan(10000, 0, [guest(1, 1.0, balloon=1100), guest(2, 1.0, balloon=1024)], POLICY)
    assert [(c.instance_id, c.memory_mb) for c in at_floor] == [(1, 1024)]


def test_with_memory_back_it_releases_only_what_it_took():
    guests = [guest(1, 1.0, balloon=1024, owned=True), guest(2, 1.0, balloon=1024, owned=False)]
    changes = overcommit_tasks.plan(10000, 5000, guests, POLICY)
    assert [(c.instance_id, c.memory_mb, c.policy) for c in changes] == [(1, 1228, "release")]
    assert overcommit_tasks.plan(10000, 2000, guests, POLICY) == []  # between the marks: nothing moves


def test_a_release_that_would_drop_below_the_high_mark_waits():
    assert overcommit_tasks.plan(10000, 2600, [guest(1, 1.0, balloon=1024, owned=True)], POLICY) == []


@pytest.fixture
def pair(launch, hosts):
    """An idle and a busy instance on host-a, with a minute of CPU samples each."""
    idle, busy = launch(name="idle")[1], launch(name="busy")[1]
    now = int(time.time())
    for instance, cpu in ((idle, 1.5), (busy, 75.0)):
        InstanceSample.objects.bulk_create(
            InstanceSample(instance=instance, ts=now - age, cpu_pct=cpu, simulated=True) for age in range(0, 60, 10)
        )
    return idle, busy


def run_policy(run_tasks, monkeypatch, low, high):
    monkeypatch.setenv("NUBES_BALLOON_LOW_FREE_PCT", str(low))
    monkeypatch.setenv("NUBES_BALLOON_HIGH_FREE_PCT", str(high))
    with run_tasks():
        return beat.balloon_policy.delay().get()


def test_the_beat_task_squeezes_the_idle_instance_on_a_short_host_and_records_why(run_tasks, monkeypatch, pair):
    idle, busy = pair
    # host-a has 128 GiB and two 2 GiB guests: 96.9 % free, "short" below 99.9 %.
    assert run_policy(run_tasks, monkeypatch, 99.9, 99.95)["host-a"] == 1
    idle.refresh_from_db(), busy.refresh_from_db()
    assert idle.balloon_mb == 2048 - 204 and busy.balloon_mb is None
    assert hv.domain_state(idle.host.uri, str(idle.uuid)).memory_kib == (2048 - 204) * 1024
    op = Operation.objects.get(kind="instance.set_balloon", target_id=str(idle.pk))
    assert op.status == "succeeded" and op.requester is None and op.detail["policy"] == "reclaim"
    event = InstanceEvent.objects.filter(instance=idle, kind="set_balloon").get()
    assert "policy=reclaim" in event.detail and "guest idle" in event.detail
    for _ in range(6):
        run_policy(run_tasks, monkeypatch, 99.9, 99.95)
    idle.refresh_from_db()
    assert idle.balloon_mb == 1024  # the floor: half its RAM


def test_the_beat_task_gives_memory_back_once_it_frees(run_tasks, monkeypatch, pair):
    idle, busy = pair
    run_policy(run_tasks, monkeypatch, 99.9, 99.95)
    with run_tasks():
        from compute.services import instances as services

        services.set_balloon(busy.created_by, busy, 1536)  # the owner's own choice: left alone
    for _ in range(3):
        run_policy(run_tasks, monkeypatch, 1, 2)
    idle.refresh_from_db(), busy.refresh_from_db()
    assert idle.balloon_mb == 2048 and busy.balloon_mb == 1536
    assert hv.domain_state(idle.host.uri, str(idle.uuid)).memory_kib == 2048 * 1024
    assert InstanceEvent.objects.filter(instance=idle, kind="set_balloon", detail__contains="policy=release").exists()


def test_a_busy_instance_is_skipped_until_its_action_ends(launch, monkeypatch, pair, run_tasks):
    idle, _busy = pair
    from compute.services import instances as services

    services.stop(idle.created_by, idle, timeout=0)  # queued, not run
    monkeypatch.setenv("NUBES_BALLOON_LOW_FREE_PCT", "99.9")
    monkeypatch.setenv("NUBES_BALLOON_HIGH_FREE_PCT", "99.95")
    assert beat.balloon_policy() == {"host-a": 0, "host-b": 0}


def test_the_policy_runs_on_the_beat_schedule():
    from portal.celery import app

    assert app.conf.beat_schedule["compute-balloon-policy"]["task"] == "compute.overcommit_tasks.balloon_policy"
