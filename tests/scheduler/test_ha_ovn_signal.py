"""The OVN chassis as the second signal when no other worker has an opinion, end to end against a
real OVN NB, SB and ovn-northd (tests/network/conftest.py): the chassis catching up with a fresh
NB_Global.nb_cfg vetoes the failover (this worker is the one cut off); one that does not confirms
it; when OVN cannot tell, the lone worker's verdict stands and the reason says so."""

import pytest

from portal.models import Operation
from scheduler.models import HaEvent
from scheduler.power import PowerStatus, simulated
from tests.network.chassis_fakes import Controller, add_chassis
from tests.network.conftest import nb, nb_server, northd, sb, sb_server  # noqa: F401  (fixtures)
from tests.scheduler.test_ha import lose, miss_heartbeats_for


@pytest.fixture(autouse=True)
def short_probe(monkeypatch):
    monkeypatch.setenv("NUBES_HA_PROBE_TIMEOUT", "1")  # the OVN wait too


def test_a_chassis_that_keeps_up_vetoes_a_lone_workers_failover(hosts, fake_migrations, run_tasks, northd, sb):  # noqa: F811
    host_b = hosts[1]
    add_chassis(sb, "host-b")
    lose(host_b)
    with Controller(sb, "host-b"):
        miss_heartbeats_for(host_b, 60, run_tasks)
        miss_heartbeats_for(host_b, 61, run_tasks)
    assert not Operation.objects.filter(kind="host.failover").exists()
    assert simulated.state_of(str(host_b.pk)) == PowerStatus.ON and fake_migrations.calls == []
    vetoes = HaEvent.objects.filter(host=host_b, detail__startswith="not declared dead: OVN still hears from it")
    assert vetoes.count() == 1, list(HaEvent.objects.values_list("detail", flat=True))  # once per isolation time
    assert "chassis host-b caught up with nb_cfg" in vetoes.get().detail


def test_a_chassis_that_fell_behind_confirms_the_failover(hosts, fake_migrations, run_tasks, northd, sb):  # noqa: F811
    host_b = hosts[1]
    add_chassis(sb, "host-b")
    lose(host_b)
    with Controller(sb, "host-a"):  # host A's controller keeps up; host B's is gone with it
        add_chassis(sb, "host-a")
        miss_heartbeats_for(host_b, 60, run_tasks)
    reason = Operation.objects.get(kind="host.failover").detail["reason"]
    assert "confirmed by OVN (chassis host-b's ovn-controller did not catch up" in reason, reason
    assert simulated.state_of(str(host_b.pk)) == PowerStatus.OFF


def test_when_ovn_cannot_tell_the_lone_worker_judges_and_says_why(hosts, fake_migrations, run_tasks, northd, sb):  # noqa: F811
    lose(hosts[1])  # host-b is no chassis here
    miss_heartbeats_for(hosts[1], 60, run_tasks)
    reason = Operation.objects.get(kind="host.failover").detail["reason"]
    assert "judged by one worker: no other worker probed it; OVN cannot tell (no OVN chassis named host-b)" in reason


def test_another_workers_verdict_is_not_overruled_by_ovn(hosts, fake_migrations, run_tasks, northd, sb):  # noqa: F811
    """Two workers that both lost the host are two signals already: OVN is not asked."""
    from scheduler import witness

    host_b = hosts[1]
    add_chassis(sb, "host-b")
    witness.note(host_b, False, worker="worker-2/42")
    lose(host_b)
    with Controller(sb, "host-b"):
        miss_heartbeats_for(host_b, 60, run_tasks)
    assert "confirmed by worker-2/42" in Operation.objects.get(kind="host.failover").detail["reason"]
