"""A host is declared dead on two signals, so one worker's isolation fences nobody: another
worker that still reaches the host vetoes the failover; one that also lost it confirms it.
Heartbeats probe every host at once, each within a bound: a silent host delays nobody."""

import socket
import time
from datetime import timedelta

from django.utils import timezone

from compute.models import Host
from portal.models import Operation
from scheduler import choices as c
from scheduler import snapshot, witness
from scheduler.models import HaEvent, HostPower
from scheduler.power import PowerStatus, simulated
from scheduler.tasks import ha
from tests.scheduler.test_ha import lose, miss_heartbeats_for


def test_another_worker_that_reaches_the_host_vetoes_its_failover(hosts, fake_migrations, run_tasks):
    host_b = hosts[1]
    witness.note(host_b, True, worker="worker-2/42")  # on the other side of this worker's cut
    lose(host_b)
    miss_heartbeats_for(host_b, 60, run_tasks)
    assert not Operation.objects.filter(kind="host.failover").exists()
    assert simulated.state_of(str(host_b.pk)) == PowerStatus.ON and fake_migrations.calls == []
    vetoes = HaEvent.objects.filter(host=host_b, detail__contains="worker-2/42 still reaches it")
    assert vetoes.count() == 1  # once per isolation time, not every heartbeat
    miss_heartbeats_for(host_b, 61, run_tasks)
    assert vetoes.count() == 1


def test_another_worker_that_lost_it_too_confirms_the_failover(hosts, fake_migrations, run_tasks):
    host_b = hosts[1]
    witness.note(host_b, False, worker="worker-2/42")
    lose(host_b)
    miss_heartbeats_for(host_b, 60, run_tasks)
    failover = Operation.objects.get(kind="host.failover")
    assert "confirmed by worker-2/42" in failover.detail["reason"]
    assert simulated.state_of(str(host_b.pk)) == PowerStatus.OFF


def test_alone_a_worker_still_fails_a_host_over_and_says_it_judged_alone(hosts, fake_migrations, run_tasks):
    old = timezone.now() - timedelta(hours=1)
    witness.note(hosts[1], True, worker="worker-2/42", now=old)  # too old to speak for the host now
    lose(hosts[1])
    miss_heartbeats_for(hosts[1], 60, run_tasks)
    assert "judged by one worker" in Operation.objects.get(kind="host.failover").detail["reason"]


def test_a_silent_host_costs_the_heartbeat_one_bounded_wait(hosts):
    host_a = hosts[0]
    silent = socket.socket()  # accepts TCP, never answers libvirt's handshake: a hung host
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    try:
        hung = [Host(pk=1000 + i, name=f"hung-{i}", uri=f"qemu+tcp://127.0.0.1:{port}/system") for i in range(3)]
        started = time.monotonic()
        verdicts = ha.probe_all([host_a, *hung], timeout_s=1.0)
        took = time.monotonic() - started
    finally:
        silent.close()
    print(f"\n1 live + 3 hung hosts probed in {took:.2f} s (bound 1 s each, in parallel)")
    assert verdicts[host_a.pk] == (True, "")
    for host in hung:
        assert verdicts[host.pk] == (False, "no answer within 1 s")


def test_a_cut_off_worker_that_ran_every_heartbeat_waits_for_another_workers_verdict(
    hosts, fake_migrations, run_tasks, monkeypatch
):
    """The fleet's case: worker A, cut off from host B, happened to run every heartbeat for the
    isolation time, so worker B's last probe is older than that. Before, worker A judged alone and
    fenced a healthy host; now it asks worker B (its own queue) and waits for its verdict, and
    judges alone only once worker B has been silent for twice the isolation time."""
    host_b = hosts[1]
    asked = []
    monkeypatch.setattr(ha, "_workers_run_tasks", lambda: True)
    monkeypatch.setattr(ha, "live_workers", lambda: set())
    monkeypatch.setattr(ha.probe_hosts, "apply_async", lambda **kw: asked.append(kw))
    isolation = snapshot.settings_for(host_b.cluster).ha_isolation_s
    witness.note(host_b, True, worker="nubes-hostb@lab", now=timezone.now() - timedelta(seconds=isolation + 10))
    lose(host_b)
    miss_heartbeats_for(host_b, 2 * isolation, run_tasks)
    assert not Operation.objects.filter(kind="host.failover").exists()
    assert simulated.state_of(str(host_b.pk)) == PowerStatus.ON and fake_migrations.calls == []
    waiting = HaEvent.objects.filter(host=host_b, detail__contains="waiting for nubes-hostb@lab's probe")
    assert waiting.count() == 1
    assert asked and all(kw["args"] == [[host_b.pk]] for kw in asked), asked
    assert {kw["queue"].name for kw in asked} == {"nubes-hostb@lab.dq2"}
    # Worker B stays silent (it is inside host B, dead with it): judged alone after 2 x isolation.
    witness.note(host_b, True, worker="nubes-hostb@lab", now=timezone.now() - timedelta(seconds=2 * isolation + 1))
    miss_heartbeats_for(host_b, 2 * isolation, run_tasks)
    reason = Operation.objects.get(kind="host.failover").detail["reason"]
    assert "judged by one worker: every other worker silent for" in reason, reason


def test_another_workers_probe_on_request_brings_a_host_back(hosts, run_tasks):
    """probe_hosts, run by the worker asked: it notes its verdict under its node name, and a host it
    reaches is healthy again (the asker's misses end there)."""
    host_a = hosts[0]
    HostPower.objects.update_or_create(
        host=host_a, defaults={"ha_state": c.HaState.MISSING, "missed_heartbeats": 2, "missing_since": timezone.now()}
    )
    with run_tasks():
        ha.probe_hosts([host_a.pk])
    power = HostPower.objects.get(host=host_a)
    assert power.ha_state == c.HaState.HEALTHY and power.missing_since is None
    assert witness.second_opinion(host_a, 30, worker="someone-else") == ("alive", ha.node_name(None))


def test_a_live_worker_that_never_probed_the_host_is_asked_and_awaited(hosts, fake_migrations, run_tasks, monkeypatch):
    """On the fleet beat's heartbeats went to one worker for minutes: the other had never noted
    host B when the first one lost it. The ping finds it; it is asked and awaited for twice the
    isolation time from the ask, then the lone verdict stands."""
    host_b = hosts[1]
    asked = []
    monkeypatch.setattr(ha, "_workers_run_tasks", lambda: True)
    monkeypatch.setattr(ha, "live_workers", lambda: {"nubes-hosta@lab"})
    monkeypatch.setattr(ha.probe_hosts, "apply_async", lambda **kw: asked.append(kw))
    isolation = snapshot.settings_for(host_b.cluster).ha_isolation_s
    lose(host_b)
    miss_heartbeats_for(host_b, 2 * isolation, run_tasks)
    assert {kw["queue"].name for kw in asked} == {"nubes-hosta@lab.dq2"}
    assert not Operation.objects.filter(kind="host.failover").exists()
    assert HaEvent.objects.filter(host=host_b, detail__contains="waiting for nubes-hosta@lab's probe").exists()
    # Its answer, once it comes, is what counts: here it lost host B too, so it confirms.
    witness.note(host_b, False, worker="nubes-hosta@lab")
    miss_heartbeats_for(host_b, 2 * isolation, run_tasks)
    assert "confirmed by nubes-hosta@lab" in Operation.objects.get(kind="host.failover").detail["reason"]


def test_an_asked_worker_that_never_answers_is_awaited_twice_the_isolation_time(hosts, run_tasks):
    host_b = hosts[1]
    isolation = snapshot.settings_for(host_b.cluster).ha_isolation_s
    now = timezone.now()
    witness.asked(host_b, "nubes-hosta@lab", now=now - timedelta(seconds=2 * isolation - 1))
    assert witness.awaited(host_b, isolation, worker="me", now=now)[0] == "nubes-hosta@lab"
    assert witness.awaited(host_b, isolation, worker="me", now=now + timedelta(seconds=2))[0] is None
    witness.note(host_b, True, worker="nubes-hosta@lab", now=now)  # its answer clears the ask
    assert witness.awaited(host_b, isolation, worker="me", now=now + timedelta(seconds=3 * isolation))[0] is None
