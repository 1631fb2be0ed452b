"""A late lifecycle event must not undo what a later action wrote: a forced stop's STOPPED
event read libvirt before the start that followed, and is written after it."""

import pytest

import hypervisor as hv
from compute.choices import InstanceState, PowerState
from compute.tasks import lifecycle as tasks


@pytest.fixture
def stopped(launch, api, run_tasks):
    instance = launch()[1]
    with run_tasks():
        response = api["alice"].post(f"/api/v1/instances/{instance.pk}/stop/", {"force": True}, format="json")
    assert response.status_code == 202
    instance.refresh_from_db()
    assert instance.state == InstanceState.SHUTOFF
    return instance


def start_while_the_event_reads_libvirt(monkeypatch, api, run_tasks, instance):
    """The event handler's read of libvirt answers 'shutoff'; before it writes, the start runs."""
    real = hv.domain_state
    started = []

    def read_then_start(uri, uuid):
        seen = real(uri, uuid)
        if not started:
            started.append(True)
            with run_tasks():
                response = api["alice"].post(f"/api/v1/instances/{instance.pk}/start/", {}, format="json")
            assert response.status_code == 202
        return seen

    monkeypatch.setattr(hv, "domain_state", read_then_start)


def test_a_late_stopped_event_does_not_overwrite_the_start(stopped, monkeypatch, api, run_tasks):
    start_while_the_event_reads_libvirt(monkeypatch, api, run_tasks, stopped)
    tasks.lifecycle_event(stopped.host.uri, str(stopped.uuid), "stopped", "destroyed")
    stopped.refresh_from_db()
    assert hv.domain_state(stopped.host.uri, str(stopped.uuid)).state == "running"
    assert (stopped.state, stopped.power_state) == (InstanceState.ACTIVE, PowerState.RUNNING)
    assert not stopped.events.filter(kind="stopped unexpectedly").exists()


def test_an_event_with_nothing_in_between_still_writes(stopped):
    hv.domain_start(stopped.host.uri, str(stopped.uuid))  # behind the portal's back
    tasks.lifecycle_event(stopped.host.uri, str(stopped.uuid), "started", "booted")
    stopped.refresh_from_db()
    assert (stopped.state, stopped.power_state) == (InstanceState.ACTIVE, PowerState.RUNNING)
