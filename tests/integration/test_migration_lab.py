"""Live migration and metrics on the lab's real libvirtds, through the API: a running guest
moves A -> B -> A while its serial heartbeat keeps counting and progress arrives over the
websocket; a bandwidth-limited migration cancelled mid-way leaves the guest running on the
source, the database saying what libvirt says; a real collection sees the guest's CPU busy."""

import asyncio
import threading
import time
import uuid

import pytest
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client

from compute.models import InstanceSample, Migration
from compute.tasks import metrics as metric_tasks
from portal.asgi import application
from portal.models import Operation
from tests.conftest import client_for
from tests.integration.conftest import booted, domain_names, heartbeats, virsh, wait_for_heartbeat

pytestmark = pytest.mark.django_db(transaction=True)
MAX_HEARTBEAT_GAP_S = 2.0
WATCH_POLL_S = 0.1
MOVE_BANDWIDTH_MIB_S = 25  # about 90 MB sent in 3-4 s: several progress polls (0.5 s apart)
SLOW_BANDWIDTH_MIB_S = 5  # 256 MiB at 5 MiB/s: about 50 s, time to cancel mid-way
CANCEL_AT_PERCENT = 10
MIGRATION_TIMEOUT_S = 180
SETTLE_S = 1.0
COLLECTION_GAP_S = 6  # the collector skips a host collected less than half an interval ago
ORIGIN = (b"origin", b"http://127.0.0.1")
HOST = (b"host", b"127.0.0.1")


class HeartbeatWatch(threading.Thread):
    """Reads the serial log every 0.1 s and notes when each new counter value first shows."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.seen, self.halt = path, [], threading.Event()

    def run(self):
        while not self.halt.is_set():
            beats = heartbeats(self.path)
            if beats and (not self.seen or beats[-1] > self.seen[-1][1]):
                self.seen.append((time.monotonic(), beats[-1]))
            time.sleep(WATCH_POLL_S)

    def stop(self):
        self.halt.set()
        self.join()

    def max_gap(self):
        """The longest wall time between two successive counter values, and where it was."""
        gaps = [(b[0] - a[0], a[1], b[1]) for a, b in zip(self.seen, self.seen[1:], strict=False)]
        return max(gaps) if gaps else (float("inf"), None, None)

    def counters_ok(self):
        """No reboot (the counter never goes back) and no jump above 2 per second of wall time."""
        pairs = zip(self.seen, self.seen[1:], strict=False)
        return all(b[1] > a[1] and b[1] - a[1] <= max(2, 2 * (b[0] - a[0])) for a, b in pairs)


@pytest.fixture
def guest(admin_api, lab_cloud, host_a, host_b, project_a):
    payload = {
        "project": project_a.pk,
        "name": f"it-mig-{uuid.uuid4().hex[:6]}",
        "flavor": lab_cloud["flavor"].pk,
        "image": lab_cloud["image"].pk,
        "host": host_a.pk,
    }
    with booted(admin_api, payload, (host_a, host_b)) as instance:
        yield instance


def in_thread(fn):
    """Run fn in a worker thread with its own database connection (closed after)."""

    def run():
        try:
            return fn()
        finally:
            connection.close()

    return run


def migrate(user, instance, target, **options):
    response = client_for(user).post(
        "/api/v1/migrations/",
        {"instance": instance.pk, "target_host": target.pk, "live": True, **options},
        format="json",
    )
    assert response.status_code == 202, response.content
    return Operation.objects.get(pk=response.json()["id"])


def assert_moved(op, instance, source, target):
    """The migration Operation succeeded and the guest runs on ``target`` only, as the database says."""
    op.refresh_from_db()
    assert op.status == "succeeded", op.message
    instance.refresh_from_db()
    assert instance.host_id == target.pk and instance.state == "active"
    assert virsh(target.uri, "domstate", instance.domain_name).strip() == "running"
    assert instance.domain_name not in domain_names(source.uri)


def session_cookie(user):
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def follow(user, group, work):
    """Run `work` in a thread while a websocket subscribed to `group` collects every message."""
    cookie = session_cookie(user)

    async def run():
        comm = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN, HOST, cookie])
        connected, _ = await comm.connect()
        assert connected
        await comm.send_json_to({"action": "subscribe", "group": group})
        assert (await comm.receive_json_from(timeout=5))["event"] == "subscribed"
        messages = []

        async def collect():
            while True:
                messages.append(await comm.receive_json_from(timeout=MIGRATION_TIMEOUT_S))

        collector = asyncio.create_task(collect())
        try:
            result = await asyncio.get_running_loop().run_in_executor(None, in_thread(work))
            await asyncio.sleep(SETTLE_S)
        finally:
            collector.cancel()
        await comm.disconnect()
        return result, messages

    return asyncio.run(run())


def test_a_running_guest_moves_a_to_b_and_back_with_its_heartbeat_and_live_progress(admin_user, guest, host_a, host_b):
    watch = HeartbeatWatch(guest.serial_log_path)
    watch.start()
    try:
        (there, back), messages = follow(
            admin_user,
            guest.group,
            lambda: (
                migrate(admin_user, guest, host_b, bandwidth_mib_s=MOVE_BANDWIDTH_MIB_S),
                migrate(admin_user, guest, host_a, bandwidth_mib_s=MOVE_BANDWIDTH_MIB_S),
            ),
        )
        time.sleep(MAX_HEARTBEAT_GAP_S)
    finally:
        watch.stop()
    there.refresh_from_db()
    assert there.status == "succeeded", there.message
    assert_moved(back, guest, host_b, host_a)
    gap, before, after = watch.max_gap()
    runs = list(Migration.objects.filter(instance=guest).order_by("pk"))
    print(
        f"\nheartbeat: {len(watch.seen)} values, longest gap {gap:.2f} s ({before} -> {after}); migrations: "
        + "; ".join(
            f"{m.source.name}->{m.target.name} {m.total_ms} ms, downtime {m.downtime_ms} ms, {m.data_transferred} B"
            for m in runs
        )
    )
    assert gap <= MAX_HEARTBEAT_GAP_S, f"heartbeat stalled {gap:.2f} s between {before} and {after}"
    assert watch.counters_ok(), watch.seen
    progress = [m for m in messages if m["event"] == "migration.progress"]
    assert {p["data"]["migration"] for p in progress} == {m.pk for m in runs}, "progress of both moves arrived"
    assert any(0 < p["data"]["percent"] < 100 for p in progress)
    finals = [m["data"]["state"] for m in messages if m["event"] == "migration"]
    assert finals.count("succeeded") == 2


def test_a_cancelled_migration_leaves_the_guest_running_on_the_source(admin_user, guest, host_a, host_b):
    result = {}
    mover = threading.Thread(
        target=in_thread(
            lambda: result.setdefault("op", migrate(admin_user, guest, host_b, bandwidth_mib_s=SLOW_BANDWIDTH_MIB_S))
        )
    )
    mover.start()
    deadline = time.monotonic() + MIGRATION_TIMEOUT_S
    migration = None
    while time.monotonic() < deadline:
        migration = Migration.objects.filter(instance=guest).first()
        if migration is not None and migration.state == "running" and migration.percent >= CANCEL_AT_PERCENT:
            break
        time.sleep(WATCH_POLL_S)
    assert migration is not None and migration.state == "running", "the migration never got going"
    response = client_for(admin_user).post(f"/api/v1/migrations/{migration.pk}/cancel/", {}, format="json")
    assert response.status_code == 200, response.content
    mover.join(MIGRATION_TIMEOUT_S)
    assert not mover.is_alive()
    op = result["op"]
    op.refresh_from_db()
    migration.refresh_from_db()
    assert op.status == "cancelled" and migration.state == "cancelled", (op.status, op.message)
    assert 0 < migration.percent < 100
    assert virsh(host_a.uri, "domstate", guest.domain_name).strip() == "running"
    assert guest.domain_name not in {n for n in virsh(host_b.uri, "list", "--name").split()}
    guest.refresh_from_db()
    assert guest.host_id == host_a.pk and guest.state == "active" and guest.power_state == "running"
    last = heartbeats(guest.serial_log_path)[-1]
    assert wait_for_heartbeat(guest.serial_log_path, after=last, timeout=10) > last


def test_a_real_collection_sees_the_working_guest_s_cpu(guest, host_a):
    metric_tasks.collect_host.delay(host_a.pk)
    time.sleep(COLLECTION_GAP_S)
    metric_tasks.collect_host.delay(host_a.pk)
    samples = list(InstanceSample.objects.filter(instance=guest).order_by("ts"))
    assert len(samples) == 2 and not samples[-1].simulated
    print(f"\n{guest.name}: CPU {samples[-1].cpu_pct:.2f} % over {samples[-1].ts - samples[0].ts} s")
    assert samples[-1].cpu_pct > 0
