"""Who may follow what over /ws/: charlie cannot join alice's migration or instance groups,
tenants cannot join host or cluster groups, and a migration's progress reaches a subscribed
member through the real channel layer."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from compute.models import Migration, MigrationState
from compute.tasks.migration import ProgressRelay
from hypervisor import MigrationProgress
from portal.asgi import application
from tests.portal.test_websocket import HOST, ORIGIN, session_cookie

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def connect(user):
    comm = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN, HOST, await sync_to_async(session_cookie)(user)])
    connected, _ = await comm.connect()
    assert connected
    return comm


async def subscribe(comm, group):
    await comm.send_json_to({"action": "subscribe", "group": group})
    return (await comm.receive_json_from(timeout=5))["event"]


def make_migration(project):
    from compute.models import Cluster, Flavor, Host, Image, Instance

    cluster = Cluster.objects.create(name="c")
    source = Host.objects.create(name="a", uri="test:///default", cluster=cluster)
    target = Host.objects.create(name="b", uri="test:///tmp/b.xml", cluster=cluster)
    flavor = Flavor.objects.create(name="f", vcpus=1, ram_mb=512, disk_gb=1)
    image = Image.objects.create(name="i", volume="i.qcow2")
    instance = Instance.objects.create(
        project=project,
        name="web",
        flavor=flavor,
        image=image,
        host=source,
        vcpus=1,
        ram_mb=512,
        disk_gb=1,
        state="active",
    )
    return Migration.objects.create(instance=instance, source=source, target=target, state=MigrationState.RUNNING)


async def test_an_outsider_cannot_follow_a_tenants_migration_or_instance(alice, charlie, project_a):
    migration = await sync_to_async(make_migration)(project_a)
    comm = await connect(charlie)
    assert await subscribe(comm, migration.group) == "denied"
    assert await subscribe(comm, f"compute.instance.{migration.instance_id}") == "denied"
    await comm.disconnect()
    comm = await connect(alice)
    assert await subscribe(comm, migration.group) == "subscribed"
    assert await subscribe(comm, f"compute.instance.{migration.instance_id}") == "subscribed"
    await comm.disconnect()


async def test_host_and_cluster_streams_are_for_cloud_admins(alice, admin_user, project_a):
    migration = await sync_to_async(make_migration)(project_a)
    for user, expected in ((alice, "denied"), (admin_user, "subscribed")):
        comm = await connect(user)
        assert await subscribe(comm, f"compute.host.{migration.source_id}") == expected
        assert await subscribe(comm, f"compute.cluster.{migration.source.cluster_id}") == expected
        await comm.disconnect()


def relay_one(migration):
    from portal import operations

    op = operations.begin("instance.migrate", migration.instance, cancellable=True)
    Migration.objects.filter(pk=migration.pk).update(operation=op)
    migration.refresh_from_db()
    ProgressRelay(migration, op)(
        MigrationProgress(
            phase="precopy",
            percent=42,
            memory_total=512,
            memory_processed=215,
            memory_remaining=297,
            dirty_rate_bytes_s=10,
            iteration=2,
            expected_downtime_ms=30,
            speed_bytes_s=100,
            elapsed_ms=900,
            simulated=True,
        )
    )


async def test_progress_reaches_a_subscribed_member(alice, project_a):
    migration = await sync_to_async(make_migration)(project_a)
    comm = await connect(alice)
    assert await subscribe(comm, migration.group) == "subscribed"
    await sync_to_async(relay_one)(migration)
    message = await comm.receive_json_from(timeout=5)
    assert message["event"] == "migration.progress" and message["group"] == migration.group
    assert message["data"]["percent"] == 42 and message["data"]["sample"]["memory_remaining"] == 297
    assert message["data"]["simulated"] is True
    await comm.disconnect()
