"""A host is declared dead on two signals, so one worker's isolation fences nobody: another
worker that still reaches the host vetoes the failover; one that also lost it confirms it.
Heartbeats probe every host at once, each within a bound: a silent host delays nobody."""

import socket
import time
from datetime import timedelta

from django.utils import timezone

from compute.models import Host
from portal.models import Operation
from scheduler import witness
from scheduler.models import HaEvent
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
