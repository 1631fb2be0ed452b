"""HA on the lab: an HA instance runs on host B; host B fails (its libvirtd is killed, then its
guest's QEMU and its ovn-controller, as a power loss would: OVN is HA's second signal, and a
host whose ovn-controller still answers is isolated, not dead); the scheduler's heartbeat misses it for the
isolation time, fences it through the (simulated) power driver and restarts the instance on
host A from the database, where its serial heartbeat starts again. Twice: from the lab's
shared directory, and with its root and data disks on the storage node's GlusterFS volume
(the restarted guest reads what it had on its disk before the death). The lab is restored with
lab/up.sh (idempotent: it restarts what is missing) whatever happens, and must be UP after."""

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from compute.models import HaPriority, Host, Instance
from portal import lab as lab_module
from portal.models import Operation
from scheduler import choices as c
from scheduler.models import HostPower
from scheduler.services import recommendations
from scheduler.tasks import ha as scheduler_tasks
from tests.integration.conftest import domain_names, heartbeats, image_copy_in, virsh, wait_for_heartbeat
from tests.integration.test_instance_lifecycle import succeeded
from tests.integration.test_san_nas_lab import (  # noqa: F401  (storage: a fixture)
    GLUSTER,
    clear_answer,
    console_line,
    disk_paths,
    guest_hostname,
    pool,
    raw_volume,
    read_answer,
    storage,
    write_request,
)

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
ISOLATION_S = 10
HEARTBEAT_PERIOD_S = 1.0
BOOT_BUDGET_S = 45  # restart task + TCG boot to the first serial line (8-12 s measured)
RESTORE_TIMEOUT_S = 300
LIBVIRTD_B = "libvirtd-b"
OVN_CONTROLLER_B = "ovn-controller-b"


def lab_pid(name):
    """The PID lab.json records for one of the lab's processes (up.sh rewrites it)."""
    lab = json.loads(lab_module.LAB_JSON.read_text())
    record = next(p for p in lab["processes"] if p["name"] == name)
    return record["pid"], record["exe"]


def kill_exact(pid, exe):
    """Kill one PID, after checking it is still the program recorded (never by name)."""
    comm = Path(f"/proc/{pid}/comm").read_text().strip()
    assert comm == exe, f"pid {pid} is {comm}, not {exe}: the lab changed under the test"
    os.kill(pid, signal.SIGKILL)


def qemu_pid_on_b(domain):
    out = subprocess.run(
        [str(ROOT / "lab" / "hostb.sh"), "cat", f"/run/libvirt/qemu/{domain}.pid"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


def restore_lab():
    up = subprocess.run([str(ROOT / "lab" / "up.sh")], capture_output=True, text=True, timeout=RESTORE_TIMEOUT_S)
    status = subprocess.run([str(ROOT / "lab" / "status.sh")], capture_output=True, text=True, timeout=60)
    return up, status


def ha_instance_on_b(admin_api, lab_cloud, host_b, project_a, image):
    """An HA (high priority) instance created through the API on host B, from `image`."""
    recommendations.update_settings(None, lab_cloud["cluster"], ha_enabled=True, ha_isolation_s=ISOLATION_S)
    payload = {
        "project": project_a.pk,
        "name": f"it-ha-{uuid.uuid4().hex[:6]}",
        "flavor": lab_cloud["flavor"].pk,
        "image": image.pk,
        "host": host_b.pk,
    }
    op = succeeded(admin_api.post("/api/v1/instances/", payload, format="json"))
    instance = Instance.objects.get(pk=op.target_id)
    marked = admin_api.post(f"/api/v1/instances/{instance.pk}/set-ha/", {"ha_priority": HaPriority.HIGH}, format="json")
    assert marked.status_code == 200 and marked.json()["ha_priority"] == HaPriority.HIGH, marked.content
    return instance


def host_b_dies_and_instance_restarts_on_a(instance, host_a, host_b, after_death=None):
    """Kill host B (its libvirtd, then the guest's QEMU and its ovn-controller); heartbeat rounds until host B is fenced
    and the instance restarted on host A, whose serial heartbeat must start again.
    `after_death()` runs once host B is dead, before the first round."""
    wait_for_heartbeat(instance.serial_log_path)
    last_seen = time.monotonic()  # host B answers during this round: no earlier than now
    scheduler_tasks.heartbeat()
    assert HostPower.objects.get(host=host_b).ha_state == c.HaState.HEALTHY
    qemu = qemu_pid_on_b(instance.domain_name)

    failed_at = time.monotonic()
    kill_exact(*lab_pid(LIBVIRTD_B))  # first: a dead libvirtd reports no guest stopping
    kill_exact(qemu, "qemu-system-x86")
    kill_exact(*lab_pid(OVN_CONTROLLER_B))  # else OVN still hears from B and vetoes the failover
    beats_before = len(heartbeats(instance.serial_log_path))
    if after_death is not None:
        after_death()

    fenced_at = None
    longest_round = 0.0  # a heartbeat round probes host B (with retries): it takes seconds
    deadline = failed_at + ISOLATION_S + BOOT_BUDGET_S
    while time.monotonic() < deadline and fenced_at is None:
        round_start = time.monotonic()
        scheduler_tasks.heartbeat()
        longest_round = max(longest_round, time.monotonic() - round_start)
        if HostPower.objects.get(host=host_b).ha_state == c.HaState.FENCED:
            fenced_at = time.monotonic()
        else:
            time.sleep(HEARTBEAT_PERIOD_S)
    failover = Operation.objects.filter(kind="host.failover").first()
    assert fenced_at is not None, f"host B not fenced: {failover and failover.message}"
    assert failover.status == "succeeded", failover.message
    restart = Operation.objects.get(kind="instance.ha_restart", target_id=str(instance.pk))
    assert restart.status == "succeeded", restart.message

    while time.monotonic() < deadline and len(heartbeats(instance.serial_log_path)) <= beats_before:
        time.sleep(HEARTBEAT_PERIOD_S / 4)
    beating_at = time.monotonic()
    new_beats = heartbeats(instance.serial_log_path)[beats_before:]
    print(
        f"\nHA: host B fenced {fenced_at - failed_at:.1f} s after it failed (isolation {ISOLATION_S} s); "
        f"{instance.name} heartbeating on host A {beating_at - failed_at:.1f} s after the failure"
    )
    assert new_beats, f"no heartbeat from host A within {ISOLATION_S + BOOT_BUDGET_S} s"
    # Not before the isolation time, and in the first heartbeat round after it (the
    # round's own length is measured, not assumed: it grows with the machine's load).
    assert fenced_at - last_seen >= ISOLATION_S
    assert fenced_at - failed_at <= ISOLATION_S + HEARTBEAT_PERIOD_S + longest_round
    assert Host.objects.get(pk=host_b.pk).state == "down"
    instance.refresh_from_db()
    assert instance.host_id == host_a.pk and instance.state == "active"
    assert virsh(host_a.uri, "domstate", instance.domain_name).strip() == "running"


def remove_out_of_band(instance, host_a, host_b):
    """Restore the lab (host B back), then the guest gone from both hosts and its root volume
    deleted; returns lab/up.sh's and lab/status.sh's results."""
    restored = restore_lab()
    # Out of band from here: VM-level HA would restart a guest destroyed behind its back.
    Instance.objects.filter(pk=instance.pk).update(ha_priority=HaPriority.DISABLED)
    for uri in (host_a.uri, host_b.uri):  # the guest on both hosts, whatever the portal managed
        if instance.domain_name in domain_names(uri):
            virsh(uri, "destroy", instance.domain_name)
            virsh(uri, "undefine", instance.domain_name)
    virsh(host_a.uri, "vol-delete", "--pool", instance.image.pool, instance.root_volume)
    return restored


def assert_lab_up(restored):
    up, status = restored
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
    assert status.returncode == 0, status.stdout[-3000:]


def test_host_b_fails_and_its_ha_instance_restarts_on_host_a(admin_api, lab_cloud, host_a, host_b, project_a):
    instance = ha_instance_on_b(admin_api, lab_cloud, host_b, project_a, lab_cloud["image"])
    try:
        host_b_dies_and_instance_restarts_on_a(instance, host_a, host_b)
    finally:
        restored = remove_out_of_band(instance, host_a, host_b)
    assert_lab_up(restored)


@pytest.fixture
def gluster_image(lab, lab_cloud, admin_api, host_a, host_b):
    yield from image_copy_in(lab, admin_api, GLUSTER, (host_a, host_b), "it-ha-gl")


def test_host_b_fails_and_its_ha_instance_restarts_on_host_a_from_the_same_glusterfs_disks(
    storage, admin_api, lab_cloud, gluster_image, host_a, host_b, project_a
):
    """The root disk and a data disk on the GlusterFS pool: what the guest wrote on host B before
    it died is on the array (read through host A's mount once B is dead), and the guest restarted
    on host A runs from the same files and reads what was on its disk before the death."""
    instance = ha_instance_on_b(admin_api, lab_cloud, host_b, project_a, gluster_image)
    data = None
    try:
        data = raw_volume(admin_api, project_a, pool(GLUSTER), "it-ha-gl-data")
        succeeded(admin_api.post(f"/api/v1/volumes/{data.pk}/attach/", {"instance": instance.pk}, format="json"))
        data.refresh_from_db()
        dev = console_line(instance, r"nubes-disk (vd[b-z]) size=1073741824")[1]
        disks_on_b = disk_paths(host_b.uri, instance.domain_name)
        mount = pool(GLUSTER).target_path
        assert disks_on_b[0].startswith(mount + "/") and disks_on_b[1] == data.path, disks_on_b
        # Written through host A's mount, answered by the guest on host B through its block device.
        token = uuid.uuid4().hex[:12]
        write_request(data.path, token)
        console_line(instance, rf"nubes-disk-ack {dev} {token}")
        hostname = guest_hostname(instance)
        before_death = len(Path(instance.serial_log_path).read_text(errors="replace"))

        def answer_survives():  # host B is dead: its guest's write is on the array, seen from A
            assert read_answer(data.path) == f"NUBES-ACK {token} {hostname}"
            clear_answer(data.path)

        host_b_dies_and_instance_restarts_on_a(instance, host_a, host_b, after_death=answer_survives)
        # The same files back the guest on host A: nothing was copied or recreated.
        assert disk_paths(host_a.uri, instance.domain_name)[:2] == disks_on_b[:2]
        # The restarted guest finds the request that was on its disk before the death, and answers
        # it again through host A (the answer was cleared after the death).
        console_line(instance, rf"nubes-disk-ack {dev} {token}", after=before_death)
        assert read_answer(data.path) == f"NUBES-ACK {token} {hostname}"
    finally:
        restored = remove_out_of_band(instance, host_a, host_b)
        if data is not None:
            virsh(host_a.uri, "vol-delete", "--pool", GLUSTER, data.libvirt_name or Path(data.path).name)
            virsh(host_b.uri, "pool-refresh", GLUSTER)
    assert_lab_up(restored)
