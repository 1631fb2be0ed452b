"""A whole LUN array that stops answering, on simulated hosts: the periodic probe puts the pool in
error and notes the stall on the running instances with a disk on it, never waits longer than its
timeout, and brings both back once the array answers. The probe's answer when the array is gone
(a refused login, a login that hangs) cannot come from the test driver, so hv.pool_probe is
patched for those with autospec; the answering probe is the test driver's own (a transient copy
of a pool it defined). The lab proves the real thing (tests/integration/test_array_outage_lab.py)."""

import threading
from unittest import mock

import pytest
from django.test import Client
from django.urls import reverse

import hypervisor as hv
from compute.choices import IO_STALL
from compute.models import Instance, InstanceEvent
from storage import services
from storage.choices import POOL_UNREACHABLE
from storage.models import StoragePool, Volume
from storage.tasks import reachability
from tests.conftest import client_for
from tests.storage.test_instance_hooks import launch
from tests.storage.test_volumes import reload

IQN = "iqn.2026-12.lab.nubes:san1"
REFUSED = "Failed to log in to target. Status: Target error(768)"  # tgtd with its target offline


@pytest.fixture
def san(db, host):
    """An iSCSI pool of host-a, defined and started on its test driver (which asks no array)."""
    pool = StoragePool(
        name="san", libvirt_name="san", type="iscsi-direct", source_host="10.99.2.10", source_device=IQN, state="active"
    )
    pool.full_clean()
    pool.save()
    pool.hosts.set([host])
    spec = hv.PoolSpec("san", "iscsi-direct", source_host="10.99.2.10", source_devices=(IQN,), initiator_iqn=IQN + ":a")
    hv.pool_define(host.uri, spec)
    hv.pool_start(host.uri, "san")
    yield pool
    hv.pool_delete(host.uri, "san")


@pytest.fixture
def on_lun(san, pool, admin_user, alice, project_a, flavor, image, run_tasks):
    """A running instance with LUN 2 of the pool mapped to its project and attached as vdb (the
    row as an attach leaves it: the test driver cannot attach a volume of a pool it cannot list)."""
    instance = launch(alice, project_a, flavor, image, run_tasks)
    lun = services.map_device(admin_user, project_a, name="lun", pool=san, device_path="unit:0:0:2")
    Volume.objects.filter(pk=lun.pk).update(instance=instance, target_dev="vdb", state="in-use")
    return instance


def probe(monkeypatch, **behaviour):
    fake = mock.create_autospec(hv.pool_probe, **behaviour)
    monkeypatch.setattr(hv, "pool_probe", fake)
    return fake


@pytest.fixture
def hanging(monkeypatch, settings):
    """A probe that hangs as a login to a portal answering nothing does, until released."""
    settings.NUBES_POOL_PROBE_TIMEOUT = 0.3
    released = threading.Event()
    fake = probe(monkeypatch, side_effect=lambda uri, name: released.wait(60))
    yield fake
    released.set()
    for thread in list(reachability._running.values()):
        thread.join(5)
    reachability._running.clear()


def test_a_probe_that_hangs_times_out_and_puts_the_pool_in_error_and_the_instance_stalled(on_lun, san, hanging, alice):
    assert reachability.probe_lun_pools() == {"san": "unreachable"}  # it returned: the probe still hangs
    hanging.assert_called_once_with(on_lun.host.uri, "san")
    pool = reload(san)
    assert pool.state == "error" and pool.state_reason.startswith(POOL_UNREACHABLE)
    assert "host-a: no answer within" in pool.state_reason
    instance = reload(on_lun)
    assert instance.state == "active" and instance.power_state == "running"
    assert instance.state_reason.startswith(f"{IO_STALL}: pool san unreachable since ")
    assert "vdb wait (QEMU reports no error)" in instance.state_reason
    assert InstanceEvent.objects.filter(instance=instance, kind="io stalled").count() == 1
    shown = client_for(alice).get(f"/api/v1/instances/{instance.pk}/").json()
    assert (shown["state"], shown["state_reason"]) == ("active", instance.state_reason)
    browser = Client()
    browser.force_login(alice)
    page = browser.get(reverse("compute:instance-detail", args=[instance.pk])).content.decode()
    assert "I/O stalled: pool san unreachable" in page

    # The next round waits for the same probe instead of starting a second one; nothing changes.
    assert reachability.probe_lun_pools() == {"san": "unreachable"}
    hanging.assert_called_once()
    assert reload(san).state_reason == pool.state_reason
    assert reload(on_lun).state_reason == instance.state_reason
    assert InstanceEvent.objects.filter(instance=instance, kind="io stalled").count() == 1


def test_once_the_array_answers_the_pool_is_active_and_the_stall_note_gone(on_lun, san, monkeypatch):
    real = hv.pool_probe
    probe(monkeypatch, side_effect=hv.HypervisorError(REFUSED))
    assert reachability.probe_lun_pools() == {"san": "unreachable"}
    assert REFUSED in reload(san).state_reason
    assert reload(on_lun).state_reason.startswith(IO_STALL)
    monkeypatch.setattr(hv, "pool_probe", real)  # the test driver's: a transient copy starts and stops
    assert reachability.probe_lun_pools() == {"san": "back"}
    pool = reload(san)
    assert (pool.state, pool.state_reason) == ("active", "")
    instance = reload(on_lun)
    assert (instance.state, instance.power_state, instance.state_reason) == ("active", "running", "")
    events = InstanceEvent.objects.filter(instance=instance, kind__startswith="io ").order_by("pk")
    assert list(events.values_list("kind", flat=True)) == ["io stalled", "io answers"]
    assert reachability.probe_lun_pools() == {}  # an active pool that answers: nothing to say
    assert "san-probe" not in " ".join(p.name for p in hv.list_pools(instance.host.uri))


def test_only_instances_with_a_disk_on_the_pool_are_noted(
    san, pool, monkeypatch, alice, project_a, flavor, image, run_tasks
):
    instance = launch(alice, project_a, flavor, image, run_tasks)  # its root disk is on a dir pool
    probe(monkeypatch, side_effect=hv.HypervisorError(REFUSED))
    assert reachability.probe_lun_pools() == {"san": "unreachable"}
    assert reload(instance).state_reason == ""


def test_a_paused_instance_keeps_its_own_reason(on_lun, san, monkeypatch):
    Instance.objects.filter(pk=on_lun.pk).update(state="paused", state_reason="Paused by its owner")
    probe(monkeypatch, side_effect=hv.HypervisorError(REFUSED))
    assert reachability.probe_lun_pools() == {"san": "unreachable"}
    assert reload(on_lun).state_reason == "Paused by its owner"


def test_a_host_whose_libvirtd_is_gone_is_not_the_arrays_failure(on_lun, san, monkeypatch):
    probe(monkeypatch, side_effect=hv.HostUnreachable("Unable to connect to host-a"))
    assert reachability.probe_lun_pools() == {}
    assert reload(san).state == "active"
    assert reload(on_lun).state_reason == ""


def test_a_pool_in_error_on_a_guests_io_error_is_left_to_that_check(on_lun, san, monkeypatch):
    StoragePool.objects.filter(pk=san.pk).update(state="error", state_reason="I/O error: vm's disk vdb failed")
    fake = probe(monkeypatch, return_value=None)
    assert reachability.probe_lun_pools() == {}
    fake.assert_not_called()
    assert reload(san).state_reason.startswith("I/O error")
