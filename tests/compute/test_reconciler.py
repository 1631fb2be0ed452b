"""The reconciler and libvirt's lifecycle events keep the database true without ever
touching what Nubes did not create."""

import time

import pytest

import hypervisor as hv
from compute.choices import HostState, InstanceState, PowerState
from compute.models import Host, UnmanagedDomain
from compute.tasks import hosts as tasks
from compute.tasks import lifecycle
from portal import operations


@pytest.fixture
def running(launch):
    return launch()[1]


def test_it_fixes_drift_after_a_stop_behind_the_portals_back(running):
    hv.domain_destroy(running.host.uri, str(running.uuid))
    counts = tasks.reconcile_host(running.host)
    running.refresh_from_db()
    assert counts["drift"] == 1
    assert (running.state, running.power_state) == (InstanceState.SHUTOFF, PowerState.SHUTOFF)
    assert running.events.filter(source="reconciler", kind="drift").exists()


def test_it_marks_a_vanished_domain(running):
    hv.domain_destroy(running.host.uri, str(running.uuid))
    hv.domain_undefine(running.host.uri, str(running.uuid))
    tasks.reconcile_host(running.host)
    running.refresh_from_db()
    assert (running.state, running.power_state) == (InstanceState.ERROR, PowerState.VANISHED)


def test_it_lists_unknown_domains_as_unmanaged_and_leaves_them_alone(host_a):
    spec = hv.DomainSpec(name="someone-elses", memory_kib=65536, vnc=False)
    uuid = hv.domain_define(host_a.uri, hv.build_domain_xml(spec))
    tasks.reconcile_host(host_a)
    assert UnmanagedDomain.objects.get(host=host_a).uuid == uuid
    assert hv.domain_state(host_a.uri, uuid).state == "shutoff"  # still there, untouched
    hv.domain_undefine(host_a.uri, uuid)
    tasks.reconcile_host(host_a)
    assert not UnmanagedDomain.objects.exists()


def test_it_leaves_an_instance_alone_while_an_operation_owns_it(running):
    operations.begin("instance.stop", running)
    hv.domain_destroy(running.host.uri, str(running.uuid))
    tasks.reconcile_host(running.host)
    running.refresh_from_db()
    assert running.state == InstanceState.ACTIVE


def test_an_unreachable_host_goes_to_error_and_comes_back(host_a, monkeypatch):
    def unreachable(uri):
        raise hv.HostUnreachable("no route to host", uri=uri)

    with monkeypatch.context() as patch:
        patch.setattr(hv, "list_domains", unreachable)
        tasks.reconcile_all()
    host_a.refresh_from_db()
    assert host_a.state == HostState.ERROR and "no route to host" in host_a.state_reason
    tasks.reconcile_all()
    assert Host.objects.get(pk=host_a.pk).state == HostState.UP


def test_a_lifecycle_event_updates_the_state(running):
    hv.domain_suspend(running.host.uri, str(running.uuid))
    lifecycle.lifecycle_event(running.host.uri, str(running.uuid), "suspended", "paused")
    running.refresh_from_db()
    assert running.state == InstanceState.PAUSED
    assert running.events.filter(source="libvirt", kind="suspended", detail="paused").exists()


def test_the_event_watch_hands_events_to_the_task(running, monkeypatch):
    seen = []
    monkeypatch.setattr(lifecycle, "WATCH_EVENTS", True)
    monkeypatch.setattr(lifecycle, "_watched", {})
    monkeypatch.setattr(lifecycle.lifecycle_event, "delay", lambda *args: seen.append(args))
    lifecycle.ensure_watch(running.host)
    hv.domain_suspend(running.host.uri, str(running.uuid))
    for _ in range(50):
        if seen:
            break
        time.sleep(0.02)
    assert (running.host.uri, str(running.uuid), "suspended", "paused") in seen


def test_the_reconciler_is_on_celery_beats_schedule():
    from portal.celery import app

    assert app.conf.beat_schedule["compute-reconcile"]["task"] == "compute.tasks.reconcile_all"
