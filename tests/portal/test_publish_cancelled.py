"""A publish from a view's thread under ASGI whose request is cancelled (its client left) while the
send is in flight: asgiref cancels the send, and the publish must still return, as it does for
every other failure of the channel layer. Raised, it cut an upload off between its Operation's
claim and its body, and the Operation stayed running until the lease reaper."""

import asyncio
import threading

from asgiref.sync import sync_to_async

from portal import realtime


class StuckLayer:
    """A channel layer whose sends never finish until cancelled."""

    def __init__(self):
        self.entered = threading.Event()
        self.cancelled = False

    async def group_send(self, group, message):
        self.entered.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.cancelled = True
            raise


def run_cancelled(monkeypatch, publish):
    layer = StuckLayer()
    monkeypatch.setattr(realtime, "get_channel_layer", lambda: layer)
    outcome = {}

    def view():
        try:
            publish()
            outcome["returned"] = True
        except BaseException as exc:  # the failure this test is about
            outcome["raised"] = exc
        return "done"

    async def request():
        task = asyncio.create_task(sync_to_async(view, thread_sensitive=False)())
        while not layer.entered.is_set():
            await asyncio.sleep(0.01)
        task.cancel()  # what Django's ASGI handler does when the client disconnects
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(request())
    return layer, outcome


def test_publish_many_returns_when_its_request_is_cancelled(monkeypatch, caplog):
    layer, outcome = run_cancelled(monkeypatch, lambda: realtime.publish_many([("project.1", "operation", {})]))
    assert layer.cancelled
    assert outcome == {"returned": True}, outcome
    assert "CancelledError" in caplog.text


def test_publish_returns_when_its_request_is_cancelled(monkeypatch, caplog):
    layer, outcome = run_cancelled(monkeypatch, lambda: realtime.publish("operation.1", "operation", {}))
    assert layer.cancelled
    assert outcome == {"returned": True}, outcome
    assert "CancelledError" in caplog.text
