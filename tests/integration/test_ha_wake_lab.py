"""Wake-on-demand for HA capacity on the lab: with host B in standby, HA admission control (one
host failure tolerated) refuses any new load on host A alone, but would admit it with host B
counted. A create, and later a start of the stopped instance, each wake host B first (DPM's
power path; the lab's hosts use the simulated power driver, and host B's real libvirtd is
probed before it counts as up) and then run the guest on host A. The requests' Operations
name host B, the wake's Operation names the request."""

import time
import uuid

import pytest

from compute.choices import HostState
from compute.models import Instance
from portal.models import Operation
from scheduler import choices as c
from scheduler.models import HaEvent
from scheduler.services import admission, power, recommendations
from tests.integration.conftest import HEARTBEAT_TIMEOUT_S, POLL_S, booted, heartbeats, launch_payload, virsh
from tests.integration.test_instance_lifecycle import succeeded

pytestmark = pytest.mark.django_db(transaction=True)


def put_in_standby(admin_user, host):
    """host B into standby as DPM puts a host there (tasks run eagerly in this tier)."""
    power.request_power(admin_user, host, c.PowerAction.STANDBY, reason="lab test: standby")
    host.refresh_from_db()
    assert host.state == HostState.STANDBY, host.state_reason


def woke_for(op, host):
    """The request `op` named `host` as woken for it, and the wake named the request."""
    op.refresh_from_db()
    assert op.detail.get("wake_host") == host.pk and op.detail.get("wake_host_name") == host.name, op.detail
    wake = Operation.objects.filter(kind="host.wake", target_id=str(host.pk)).order_by("-pk").first()
    assert wake is not None and wake.status == "succeeded", wake and wake.message
    assert f"operation {op.pk}" in wake.detail["reason"]
    host.refresh_from_db()
    assert host.state == HostState.UP


def test_a_create_and_a_start_that_need_host_b_wake_it_first(
    admin_api, admin_user, lab_cloud, host_a, host_b, project_a
):
    cluster = lab_cloud["cluster"]
    recommendations.update_settings(
        None, cluster, ha_enabled=True, ha_admission=c.AdmissionPolicy.HOST_FAILURES, ha_host_failures=1
    )
    put_in_standby(admin_user, host_b)
    assert admission.standby_to_admit(lab_cloud["flavor"], cluster) == host_b  # refused as is, admitted with B

    payload = launch_payload(lab_cloud, project_a, host_a, f"it-wake-{uuid.uuid4().hex[:6]}")
    with booted(admin_api, payload, [host_a, host_b]) as instance:
        woke_for(Operation.objects.get(kind="instance.create", target_id=str(instance.pk)), host_b)
        assert instance.host_id == host_a.pk

        succeeded(admin_api.post(f"/api/v1/instances/{instance.pk}/stop/", {"force": True}, format="json"))
        put_in_standby(admin_user, host_b)
        deadline = time.monotonic() + HEARTBEAT_TIMEOUT_S
        started = succeeded(admin_api.post(f"/api/v1/instances/{instance.pk}/start/", {}, format="json"))
        woke_for(started, host_b)
        instance = Instance.objects.get(pk=instance.pk)
        assert instance.state == "active" and instance.host_id == host_a.pk
        assert virsh(host_a.uri, "domstate", instance.domain_name).strip() == "running"
        beats = len(heartbeats(instance.serial_log_path))
        while len(heartbeats(instance.serial_log_path)) <= beats and time.monotonic() < deadline:
            time.sleep(POLL_S)
        assert len(heartbeats(instance.serial_log_path)) > beats, "the started guest never heartbeat on host A"
        assert not HaEvent.objects.filter(kind=c.HaEventKind.ADMISSION_REFUSED).exists()
