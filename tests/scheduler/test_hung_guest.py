"""VM-level HA for hung guests: a protected instance whose guest agent stops answering while its
domain runs is hard-reset after NUBES_HA_VM_HEARTBEAT_MISSES pings in a row, within the restart
limit it shares with crash restarts; a guest never heard from, a paused one, or an unprotected
one is left alone.

The verdicts are fed as the heartbeat task makes them: libvirt's test driver has no guest agent
(its ping answers "unavailable", which the task's own check shows below), so an answering agent
cannot run here; the lab's guests have one. The reset is real: a hard reboot of the test-driver
domain through compute's reboot task."""

import pytest
from django.core.cache import cache

import hypervisor as hv
from compute.models import Flavor, HaPriority, Instance
from compute.services import instances as compute_services
from portal.models import Operation
from scheduler import choices as c
from scheduler.models import HaEvent
from scheduler.services import recommendations
from scheduler.tasks import guest_heartbeat, ha
from scheduler.tasks.guest_heartbeat import Verdict

MISSES = 3


@pytest.fixture(autouse=True)
def three_misses(settings):
    settings.NUBES_HA_VM_HEARTBEAT_MISSES = MISSES


@pytest.fixture
def guest(cluster, hosts, image, project_a, admin_user, run_tasks):
    recommendations.update_settings(None, cluster, ha_enabled=True, ha_restart_limit=1, ha_restart_window_s=3600)
    flavor = Flavor.objects.create(name="m1.small", vcpus=1, ram_mb=2048, disk_gb=10)
    with run_tasks():
        instance, _op = compute_services.create_instance(
            admin_user, project_a, name="db-1", flavor=flavor, image=image, hints={"host": hosts[0].pk}
        )
    cache.delete(guest_heartbeat.KEY.format(instance.pk))  # no verdicts left from another test's row
    return Instance.objects.get(pk=instance.pk)


def feed(instance, verdicts, run_tasks):
    ops = []
    with run_tasks():
        for verdict in verdicts:
            ops.append(guest_heartbeat.record(instance, verdict, "Guest agent is not responding"))
    return [op for op in ops if op is not None]


def resets():
    return Operation.objects.filter(kind="instance.reboot")


def test_a_guest_that_answered_then_falls_silent_while_running_is_reset(guest, run_tasks):
    [op] = feed(guest, [Verdict.ANSWERED] + [Verdict.SILENT] * MISSES, run_tasks)

    op.refresh_from_db()
    assert op.status == "succeeded" and op.requester is None and op.detail["kind"] == "hard"
    assert "no guest-agent heartbeat for 3 pings" in op.message
    assert hv.domain_state(guest.host.uri, str(guest.uuid)).state == "running"
    event = HaEvent.objects.get(kind=c.HaEventKind.VM_HUNG)
    assert event.instance == guest and event.operation == op


def test_fewer_misses_or_an_answer_between_them_do_not_reset(guest, run_tasks):
    quiet = [Verdict.ANSWERED] + [Verdict.SILENT] * (MISSES - 1) + [Verdict.ANSWERED] + [Verdict.SILENT] * (MISSES - 1)
    assert feed(guest, quiet, run_tasks) == []
    assert not resets().exists()


def test_a_guest_never_heard_from_or_not_running_is_not_judged(guest, run_tasks):
    assert feed(guest, [Verdict.SILENT] * (MISSES * 2), run_tasks) == []  # no agent in the guest
    seen_then_paused = [Verdict.ANSWERED, Verdict.SILENT, Verdict.NOT_RUNNING] + [Verdict.SILENT] * MISSES
    assert feed(guest, seen_then_paused, run_tasks) == []  # a pause forgets the agent: it must answer again
    assert not resets().exists()


def test_hang_resets_share_the_restart_limit(guest, run_tasks):
    hang = [Verdict.ANSWERED] + [Verdict.SILENT] * MISSES
    assert len(feed(guest, hang, run_tasks)) == 1
    assert feed(Instance.objects.get(pk=guest.pk), hang, run_tasks) == []  # limit 1 per hour

    assert resets().count() == 1
    assert HaEvent.objects.filter(kind=c.HaEventKind.RESTART_LIMIT, instance=guest).exists()


def test_an_unprotected_instance_or_cluster_is_not_watched(guest, cluster):
    assert guest_heartbeat.protected(guest)
    Instance.objects.filter(pk=guest.pk).update(ha_priority=HaPriority.DISABLED)
    assert not guest_heartbeat.protected(Instance.objects.get(pk=guest.pk))
    recommendations.update_settings(None, cluster, ha_enabled=False)
    assert not guest_heartbeat.protected(guest)


def test_the_task_reads_the_test_drivers_missing_agent_as_silence_never_judged(guest, run_tasks):
    assert ha.guest_verdict(guest)[0] == Verdict.SILENT  # "a simulated host has no guest agent"
    with run_tasks():
        for _ in range(MISSES + 1):
            ha.vm_heartbeat()
    assert not resets().exists()
