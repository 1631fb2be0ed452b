"""realtime.publish_many: many messages through one event loop (the metrics collector's per-host
publish; before, one loop and one Redis connection per message), delivered in order, and like
publish() it never raises: a broken layer is logged with how many messages were not sent."""

from asgiref.sync import async_to_sync

from portal import operations, realtime
from tests.portal.test_channel_layer import layer  # noqa: F401 - the embedded default's layer
from tests.portal.test_dispatch import dead_channel_layer  # noqa: F401 - Redis on a closed port

GROUPS = [f"compute.instance.{n}" for n in range(1, 6)]


def test_every_message_reaches_its_group_in_order(layer):  # noqa: F811
    channel = async_to_sync(layer.new_channel)()
    for group in GROUPS[:3]:
        async_to_sync(layer.group_add)(group, channel)
    realtime.publish_many([(group, "metrics", {"n": n}) for n, group in enumerate(GROUPS)])
    received = [async_to_sync(layer.receive)(channel) for _ in range(3)]
    assert [(m["group"], m["event"], m["data"]) for m in received] == [
        (GROUPS[0], "metrics", {"n": 0}),
        (GROUPS[1], "metrics", {"n": 1}),
        (GROUPS[2], "metrics", {"n": 2}),
    ]


def test_a_broken_layer_is_logged_with_what_was_not_sent_and_never_raises(dead_channel_layer, caplog):  # noqa: F811
    realtime.publish_many([(group, "metrics", {}) for group in GROUPS])  # must not raise
    assert any(
        f"publish to {GROUPS[0]} failed: ConnectionError" in r.getMessage()
        and "5 of 5 messages not sent" in r.getMessage()
        for r in caplog.records
    )


def test_an_operations_update_reaches_its_three_groups_through_one_event_loop(layer, project_a, monkeypatch):  # noqa: F811
    """An Operation's update goes to its own group, its project's and the cloud admins': one
    event loop (on Redis, one connection) for the three, where a publish each paid for three
    (every update of every Operation, published from the workers)."""
    op = operations.begin("project.recount_quota", project_a)
    groups = [op.group, f"project.{project_a.pk}", realtime.CLOUD_GROUP]
    channels = {group: async_to_sync(layer.new_channel)() for group in groups}
    for group, channel in channels.items():
        async_to_sync(layer.group_add)(group, channel)
    loops = []
    monkeypatch.setattr(realtime, "async_to_sync", lambda fn: loops.append(fn) or async_to_sync(fn))

    operations.succeed(op)

    assert len(loops) == 1
    for group, channel in channels.items():
        message = async_to_sync(layer.receive)(channel)
        assert (message["group"], message["event"], message["data"]["status"]) == (group, "operation", "succeeded")
