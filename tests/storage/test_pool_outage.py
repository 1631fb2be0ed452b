"""An array outage on simulated hosts: QEMU's pause on a disk's I/O error (error_policy stop)
marks the disk's pool in error and names the disk on the instance; the pool check resumes the
instance once the disk answers again. The test driver has no failing storage, so the two gateway
calls that read it (the domain's disk errors, a volume's probe) are patched with autospec; the
pause and the resume are the test driver's own."""

from unittest import mock

import pytest

import hypervisor as hv
from compute.choices import IO_ERROR_PAUSE
from compute.models import Instance
from compute.tasks import hosts as host_tasks
from compute.tasks import lifecycle
from storage import services
from storage.choices import POOL_IO_ERROR
from storage.tasks import outage
from tests.storage.test_instance_hooks import launch
from tests.storage.test_volumes import reload


@pytest.fixture
def paused_on_vdb(make_volume, alice, project_a, flavor, image, run_tasks, monkeypatch):
    """An instance with volume vdb attached, paused by its host with vdb failing."""
    instance = launch(alice, project_a, flavor, image, run_tasks)
    volume = make_volume()
    with run_tasks():
        services.attach_volume(alice, volume, instance)
    monkeypatch.setattr(hv, "domain_disk_errors", mock.create_autospec(hv.domain_disk_errors, return_value={}))
    hv.domain_suspend(instance.host.uri, str(instance.uuid))
    hv.domain_disk_errors.return_value = {"vdb": "I/O error"}
    return Instance.objects.get(pk=instance.pk), reload(volume)


def probe_failing(monkeypatch):
    failing = mock.create_autospec(
        hv.volume_probe, side_effect=hv.HypervisorError("Transport endpoint is not connected")
    )
    monkeypatch.setattr(hv, "volume_probe", failing)
    return failing


def test_a_pause_on_an_io_error_names_the_disk_and_puts_its_pool_in_error(paused_on_vdb, pool):
    instance, _volume = paused_on_vdb
    lifecycle.lifecycle_event(instance.host.uri, str(instance.uuid), "suspended", "ioerror")
    instance = reload(instance)
    assert instance.state == "paused" and instance.state_reason.startswith(IO_ERROR_PAUSE)
    assert "vdb (I/O error)" in instance.state_reason
    pool = reload(pool)
    assert pool.state == "error" and pool.state_reason.startswith(POOL_IO_ERROR)
    assert f"{instance.name}'s disk vdb failed" in pool.state_reason


def test_the_pool_stays_in_error_and_the_instance_paused_while_the_disk_does_not_answer(
    paused_on_vdb, pool, monkeypatch
):
    instance, volume = paused_on_vdb
    lifecycle.lifecycle_event(instance.host.uri, str(instance.uuid), "suspended", "ioerror")
    failing = probe_failing(monkeypatch)
    assert outage.check_failed_pools() == []
    failing.assert_called_once_with(instance.host.uri, volume.path)
    assert reload(pool).state == "error"
    assert reload(instance).state == "paused"


def test_once_the_disk_answers_the_pool_is_active_and_the_instance_resumed(paused_on_vdb, pool, monkeypatch, run_tasks):
    instance, volume = paused_on_vdb
    lifecycle.lifecycle_event(instance.host.uri, str(instance.uuid), "suspended", "ioerror")
    answering = mock.create_autospec(hv.volume_probe, return_value=None)
    monkeypatch.setattr(hv, "volume_probe", answering)
    with run_tasks():
        assert outage.check_failed_pools() == [pool.name]
    answering.assert_any_call(instance.host.uri, volume.path)  # and the root disk, in the same pool
    pool = reload(pool)
    assert (pool.state, pool.state_reason) == ("active", "")
    instance = reload(instance)
    assert (instance.state, instance.power_state, instance.state_reason) == ("active", "running", "")
    assert hv.domain_state(instance.host.uri, str(instance.uuid)).state == "running"


def test_the_reconciler_notes_an_io_error_pause_whose_event_was_missed(paused_on_vdb, pool):
    instance, _volume = paused_on_vdb
    counts = host_tasks.reconcile_host(instance.host)
    assert counts["drift"] == 1
    assert reload(instance).state_reason.startswith(IO_ERROR_PAUSE)
    assert reload(pool).state == "error"


def test_a_pause_asked_for_leaves_the_pools_alone(paused_on_vdb, pool):
    instance, _volume = paused_on_vdb
    hv.domain_disk_errors.return_value = {}
    lifecycle.lifecycle_event(instance.host.uri, str(instance.uuid), "suspended", "paused")
    assert reload(instance).state == "paused" and reload(instance).state_reason == ""
    assert reload(pool).state == "active"
    assert outage.check_failed_pools() == []
