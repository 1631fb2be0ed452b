"""Every relayed message says when its publisher handed it to the channel layer (`sent`) and when
the consumer relayed it (`relayed`): bench/load.py splits websocket delivery with them."""

import time

import pytest
from asgiref.sync import sync_to_async

from portal import operations
from tests.portal.test_websocket import connect


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_operations_update_carries_when_it_was_sent_and_relayed(admin_user, project_a):
    op = await sync_to_async(operations.begin_untargeted)("x", name="x", project=project_a)
    comm, connected, _ = await connect(admin_user)
    await comm.send_json_to({"action": "subscribe", "group": f"project.{project_a.pk}"})
    assert (await comm.receive_json_from())["event"] == "subscribed"

    before = time.time()
    await sync_to_async(operations.succeed)(op)
    message = await comm.receive_json_from(timeout=5)
    after = time.time()

    assert message["data"]["status"] == "succeeded"
    assert before <= message["sent"] <= message["relayed"] <= after
    await comm.disconnect()
