"""A cloud admin's lists show every project's rows, so the admin's page joins the `cloud` group,
which hears what each project's group hears; no one else may join it."""

import pytest
from asgiref.sync import sync_to_async

from portal import operations, realtime
from tests.portal.test_websocket import connect

websocket = pytest.mark.django_db(transaction=True)


@pytest.mark.asyncio
@websocket
async def test_only_cloud_admins_may_join_the_cloud_group(alice, bob, charlie, admin_user):
    joins = sync_to_async(realtime.may_join)
    assert await joins(admin_user, realtime.CLOUD_GROUP)
    for user in (alice, bob, charlie):
        assert not await joins(user, realtime.CLOUD_GROUP)


@pytest.mark.asyncio
@websocket
async def test_a_member_asking_for_the_cloud_group_is_denied(alice):
    comm, connected, _ = await connect(alice)
    await comm.send_json_to({"action": "subscribe", "group": "cloud"})
    assert (await comm.receive_json_from())["event"] == "denied"
    await comm.disconnect()


@pytest.mark.asyncio
@websocket
async def test_an_admin_in_the_cloud_group_hears_another_projects_operation(admin_user, project_a):
    op = await sync_to_async(operations.begin_untargeted)("x", name="x", project=project_a)
    comm, connected, _ = await connect(admin_user)
    await comm.send_json_to({"action": "subscribe", "group": "cloud"})
    assert (await comm.receive_json_from())["event"] == "subscribed"

    await sync_to_async(operations.progress)(op, 30, "copying")

    message = await comm.receive_json_from(timeout=5)
    assert (message["group"], message["event"], message["data"]["id"]) == ("cloud", "operation", op.pk)
    assert message["data"]["project"] == project_a.pk
    await comm.disconnect()


def test_what_a_project_hears_the_cloud_group_hears_too(monkeypatch):
    sent = []
    monkeypatch.setattr(realtime, "publish", lambda group, event, data: sent.append((group, event)))
    monkeypatch.setattr(
        realtime, "publish_many", lambda messages: sent.extend((group, event) for group, event, data in messages)
    )

    realtime.publish_to_project(7, "instance", {"id": 1})

    assert sent == [("project.7", "instance"), ("cloud", "instance")]
