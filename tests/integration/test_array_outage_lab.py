"""The storage array fails under a running guest that reads a raw data disk on it every second (a
qcow2 root disk the guest never wrote would be answered from qcow2's own metadata, without
reading the array), for both of the lab's arrays:

- GlusterFS (pool nubes-gluster, netfs over FUSE): the volume is stopped on the storage node (its
  brick process exits, as an array's service would);
- iSCSI (pool nubes-san, iscsi-direct, QEMU's own libiscsi initiator): a LUN mapped into the guest
  as a virtio disk goes offline in tgtd (made removable with no medium: every command on it
  answers NOT READY / MEDIUM NOT PRESENT, which QEMU reports as an I/O error).

QEMU pauses the guest on the I/O error (error_policy stop); the portal shows the instance paused
on that disk and the pool in error (API and pools page). The array comes back; the pool check
finds the disk answering, the pool is active and the guest resumed, its heartbeat counting on,
and the reconciler finds nothing to correct.

The whole iSCSI target set offline is no outage QEMU can see: tgtd then drops the target's SCSI
commands without any answer while still answering libiscsi's NOPs, so the guest's read waits,
with no pause and no disk error; the domain runs on. The periodic pool probe
(storage.tasks.reachability) finds the array refusing logins: the pool in error, the instance
"I/O stalled" on that disk (API and page), then both back once the target is ready. The read tgtd
dropped is only sent again once libiscsi logs in again: the array dropping the stale session
(as a target restart or failover does) makes it, and the guest answers a request on the LUN."""

import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from compute.choices import IO_ERROR_PAUSE, IO_STALL
from compute.models import Instance
from compute.tasks import hosts as host_tasks
from storage.choices import POOL_IO_ERROR, POOL_UNREACHABLE
from storage.models import StoragePool, Volume
from storage.tasks import outage, reachability
from tests.integration.conftest import booted, launch_payload, virsh, wait_for_heartbeat
from tests.integration.test_instance_lifecycle import succeeded
from tests.integration.test_san_nas_lab import console_line, read_answer, write_request

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
GLUSTER, SAN = "nubes-gluster", "nubes-san"
SAN_LUN = 2  # test_san_nas_lab maps LUN 1
PAUSE_TIMEOUT_S = 60
RETURN_TIMEOUT_S = 90
POLL_S = 1.0


def gluster(lab, *args):
    """The storage node's gluster CLI (through glusterd's socket, in its namespace)."""
    return subprocess.run(
        ["ip", "netns", "exec", lab["storage"]["netns"], "gluster", "--mode=script"]
        + ["--glusterd-sock=/var/run/glusterd.socket", "volume", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def poll(what, check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(POLL_S)
    raise AssertionError(f"{what} not within {timeout}s")


def tgtadm(*args):
    """The storage node's tgtd (its control socket is a file: no namespace needed)."""
    return subprocess.run(["tgtadm", "--lld", "iscsi", *args], capture_output=True, text=True, timeout=60)


def lun_params(params):
    return tgtadm("--op", "update", "--mode", "logicalunit", "--tid", "1", "--lun", str(SAN_LUN), "--params", params)


class Gluster:
    pool, size = GLUSTER, 1 << 30

    def data_disk(self, api, project, pool):
        body = {"project": project.pk, "name": "it-out-data", "pool": pool.pk, "size_gb": 1, "format": "raw"}
        return Volume.objects.get(pk=succeeded(api.post("/api/v1/volumes/", body, format="json")).target_id)

    def stop(self, lab):
        return gluster(lab, "stop", lab["storage"]["gluster"]["volume"])

    def start(self, lab):
        return gluster(lab, "start", lab["storage"]["gluster"]["volume"])

    def after(self, lab):
        # The brick is a new process: the lab records its pid again (down.sh stops it by pid).
        up = subprocess.run([str(ROOT / "lab" / "storage.sh"), "up"], capture_output=True, text=True, timeout=300)
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]


class Iscsi:
    pool, size = SAN, None  # the LUN's size, from lab.json

    def data_disk(self, api, project, pool):
        body = {
            "project": project.pk,
            "name": "it-out-lun",
            "pool": pool.pk,
            "device_path": f"unit:0:0:{SAN_LUN}",
            "device_type": "disk",
            "size_gb": 1,
        }
        response = api.post("/api/v1/volumes/map-device/", body, format="json")
        assert response.status_code == 201, response.content
        return Volume.objects.get(pk=response.json()["id"])

    def stop(self, lab):
        return lun_params("removable=1,online=0")

    def start(self, lab):
        return lun_params("online=1,removable=0")

    def after(self, lab):
        shown = tgtadm("--op", "show", "--mode", "target").stdout
        lun = shown.split(f"LUN: {SAN_LUN}\n", 1)[1]
        assert "State: ready" in shown and "Online: Yes" in lun.split("LUN:", 1)[0], shown


ARRAYS = {"glusterfs": Gluster(), "iscsi": Iscsi()}


@pytest.mark.parametrize("kind", list(ARRAYS))
def test_a_stopped_array_pauses_its_guest_shows_the_error_and_both_come_back(
    kind, lab, admin_api, admin_user, lab_cloud, host_a, host_b, project_a
):
    if "storage" not in lab:
        pytest.skip("the lab has no storage node (lab.json without 'storage'): run lab/up.sh again")
    array = ARRAYS[kind]
    size = array.size or next(lun["size"] for lun in lab["storage"]["iscsi"]["luns"] if lun["lun"] == SAN_LUN)
    payload = launch_payload(lab_cloud, project_a, host_a, f"it-out-{uuid.uuid4().hex[:6]}")
    pool = StoragePool.objects.get(name=array.pool)
    with booted(admin_api, payload, (host_a, host_b)) as instance:
        stopped, data = False, None
        try:
            data = array.data_disk(admin_api, project_a, pool)
            succeeded(admin_api.post(f"/api/v1/volumes/{data.pk}/attach/", {"instance": instance.pk}, format="json"))
            dev = console_line(instance, rf"nubes-disk (vd[b-z]) size={size}")[1]
            result = array.stop(lab)
            stopped = result.returncode == 0
            assert stopped, result.stdout + result.stderr
            # The guest reads its disks every second: QEMU stops it on the first failed read.
            poll(
                "the guest paused on an I/O error",
                lambda: "paused (I/O error)" in virsh(host_a.uri, "domstate", "--reason", instance.domain_name),
                PAUSE_TIMEOUT_S,
            )

            def noted():
                host_tasks.reconcile_host(host_a)  # a no-op once the event did it
                instance.refresh_from_db()
                return instance.state == "paused" and instance.state_reason.startswith(IO_ERROR_PAUSE)

            poll("the instance recorded as paused on an I/O error", noted, 30)
            shown = admin_api.get(f"/api/v1/instances/{instance.pk}/").json()
            assert shown["state"] == "paused" and f"{dev} (I/O error)" in shown["state_reason"], shown
            shown = admin_api.get(f"/api/v1/storage-pools/{pool.pk}/").json()
            assert shown["state"] == "error" and shown["state_reason"].startswith(POOL_IO_ERROR), shown
            assert instance.name in shown["state_reason"]
            browser = Client()
            browser.force_login(admin_user)
            page = browser.get(reverse("storage:pools")).content.decode()
            assert f"{instance.name}&#x27;s disk {dev} failed" in page
            assert outage.check_failed_pools() == []  # still down: nothing comes back
            assert StoragePool.objects.get(pk=pool.pk).state == "error"
            last = wait_for_heartbeat(instance.serial_log_path)
            time.sleep(3)  # paused: no new heartbeat may appear
            assert wait_for_heartbeat(instance.serial_log_path, timeout=1) == last

            result = array.start(lab)
            assert result.returncode == 0, result.stdout + result.stderr
            stopped = False
            poll("the pool back", lambda: outage.check_failed_pools() == [array.pool], RETURN_TIMEOUT_S)
            instance.refresh_from_db()
            assert (instance.state, instance.power_state, instance.state_reason) == ("active", "running", "")
            assert StoragePool.objects.get(pk=pool.pk).state == "active"
            wait_for_heartbeat(instance.serial_log_path, after=last)
            assert virsh(host_a.uri, "domstate", instance.domain_name).strip() == "running"
            counts = host_tasks.reconcile_host(host_a)
            assert counts["drift"] == 0 and counts["vanished"] == 0, counts
            assert Instance.objects.get(pk=instance.pk).state == "active"
            succeeded(admin_api.post(f"/api/v1/volumes/{data.pk}/detach/", {}, format="json"))
        finally:
            if stopped:
                array.start(lab)
            if data is not None:
                data.refresh_from_db()
                if data.instance_id is None:
                    admin_api.delete(f"/api/v1/volumes/{data.pk}/")
            array.after(lab)
    assert Instance.objects.get(pk=instance.pk).state == "deleted"
    assert not Path(instance.serial_log_path).exists()  # the delete removed the guest's serial log


def target_state(state):
    return tgtadm("--op", "update", "--mode", "target", "--tid", "1", "--name", "state", "--value", state)


def pool_initiator(uri):
    """The initiator name the host's nubes-san pool (and so QEMU, for its LUNs) logs in with."""
    return re.search(r"<iqn name='([^']+)'", virsh(uri, "pool-dumpxml", SAN))[1]


def drop_sessions(initiator):
    """What a target restart or failover does: the array closes the initiator's sessions."""
    shown = tgtadm("--op", "show", "--mode", "conn", "--tid", "1").stdout
    sids = [sid for sid, who in re.findall(r"Session: (\d+)\n.*?Initiator: (\S+)", shown, re.S) if who == initiator]
    assert sids, shown
    for sid in sids:
        result = tgtadm("--op", "delete", "--mode", "conn", "--tid", "1", "--sid", sid, "--cid", "0")
        assert result.returncode == 0, result.stdout + result.stderr
    return sids


def test_a_whole_target_offline_stalls_the_guest_shows_it_and_both_come_back(
    lab, admin_api, admin_user, lab_cloud, host_a, host_b, project_a
):
    if "storage" not in lab:
        pytest.skip("the lab has no storage node (lab.json without 'storage'): run lab/up.sh again")
    lun = next(lun for lun in lab["storage"]["iscsi"]["luns"] if lun["lun"] == SAN_LUN)
    payload = launch_payload(lab_cloud, project_a, host_a, f"it-tgt-{uuid.uuid4().hex[:6]}")
    pool = StoragePool.objects.get(name=SAN)
    with booted(admin_api, payload, (host_a, host_b)) as instance:
        offline, data = False, None
        try:
            data = ARRAYS["iscsi"].data_disk(admin_api, project_a, pool)
            succeeded(admin_api.post(f"/api/v1/volumes/{data.pk}/attach/", {"instance": instance.pk}, format="json"))
            dev = console_line(instance, rf"nubes-disk (vd[b-z]) size={lun['size']}")[1]
            token = uuid.uuid4().hex[:8]
            write_request(lun["file"], token)
            console_line(instance, rf"nubes-disk-ack {dev} {token}")  # the guest reads and writes the LUN
            assert reachability.probe_lun_pools() == {}  # both hosts' probes answer

            result = target_state("offline")
            offline = result.returncode == 0
            assert offline, result.stdout + result.stderr
            poll("the pool unreachable", lambda: reachability.probe_lun_pools() == {SAN: "unreachable"}, 30)
            shown = admin_api.get(f"/api/v1/storage-pools/{pool.pk}/").json()
            assert shown["state"] == "error" and shown["state_reason"].startswith(POOL_UNREACHABLE), shown
            assert "Target error" in shown["state_reason"], shown  # tgtd refuses the probe's login
            # QEMU saw no error: the domain runs, the instance is active, its reason says the stall.
            assert virsh(host_a.uri, "domstate", "--reason", instance.domain_name).startswith("running")
            host_tasks.reconcile_host(host_a)
            shown = admin_api.get(f"/api/v1/instances/{instance.pk}/").json()
            assert shown["state"] == "active", shown
            assert shown["state_reason"].startswith(f"{IO_STALL}: pool {SAN} unreachable"), shown
            assert f"{dev} wait" in shown["state_reason"], shown
            browser = Client()
            browser.force_login(admin_user)
            page = browser.get(reverse("compute:instance-detail", args=[instance.pk])).content.decode()
            assert f"{IO_STALL}: pool {SAN} unreachable" in page
            token = uuid.uuid4().hex[:8]
            write_request(lun["file"], token)  # read by the guest only once its I/O moves again
            mark = len(Path(instance.serial_log_path).read_text(errors="replace"))

            result = target_state("ready")
            assert result.returncode == 0, result.stdout + result.stderr
            offline = False
            poll("the pool back", lambda: reachability.probe_lun_pools() == {SAN: "back"}, 30)
            assert StoragePool.objects.get(pk=pool.pk).state == "active"
            instance.refresh_from_db()
            assert (instance.state, instance.power_state, instance.state_reason) == ("active", "running", "")
            # libiscsi still waits, on its old session, for the answer tgtd dropped; once the array
            # drops that session libiscsi logs in again and sends the read again.
            drop_sessions(pool_initiator(host_a.uri))
            console_line(instance, rf"nubes-disk-ack {dev} {token}", after=mark)
            assert read_answer(lun["file"]).startswith(f"NUBES-ACK {token} ")
            wait_for_heartbeat(instance.serial_log_path, after=wait_for_heartbeat(instance.serial_log_path))
            counts = host_tasks.reconcile_host(host_a)
            assert counts["drift"] == 0 and counts["vanished"] == 0, counts
            succeeded(admin_api.post(f"/api/v1/volumes/{data.pk}/detach/", {}, format="json"))
        finally:
            if offline:
                target_state("ready")
            if data is not None:
                data.refresh_from_db()
                if data.instance_id is None:
                    admin_api.delete(f"/api/v1/volumes/{data.pk}/")
            ARRAYS["iscsi"].after(lab)
    assert Instance.objects.get(pk=instance.pk).state == "deleted"
