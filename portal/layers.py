"""The embedded default's channel layer: channels' InMemoryChannelLayer, made safe to publish
to from other threads.

Its queues are asyncio.Queues that belong to the loop a consumer waits on (the ASGI server's).
realtime.publish runs in Celery worker threads, where async_to_sync runs group_send on a loop
of its own; putting into the queue from there resolves the waiting consumer's future from the
wrong thread, which does not wake the server's loop (asyncio is not thread-safe): the message
sat in the queue until other traffic woke the loop - seconds later, or never on an idle page.
Here a send from another loop is handed to the receiving loop with run_coroutine_threadsafe.
"""

import asyncio

from channels.layers import InMemoryChannelLayer as StockInMemoryChannelLayer

HANDOVER_TIMEOUT_S = 5.0  # a publish never blocks a task longer than this


class InMemoryChannelLayer(StockInMemoryChannelLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._receiving_loop = None

    def _note_loop(self):
        self._receiving_loop = asyncio.get_running_loop()

    async def _on_receiving_loop(self, make_coro):
        """Run make_coro() on the loop consumers wait on; here when that is this loop (or none)."""
        loop = self._receiving_loop
        if loop is None or loop is asyncio.get_running_loop() or loop.is_closed() or not loop.is_running():
            return await make_coro()
        future = asyncio.run_coroutine_threadsafe(make_coro(), loop)
        return await asyncio.wait_for(asyncio.wrap_future(future), HANDOVER_TIMEOUT_S)

    async def receive(self, channel):
        self._note_loop()
        return await super().receive(channel)

    async def group_add(self, group, channel):
        self._note_loop()
        return await super().group_add(group, channel)

    async def send(self, channel, message):
        parent = super()
        return await self._on_receiving_loop(lambda: parent.send(channel, message))

    async def group_send(self, group, message):
        parent = super()
        return await self._on_receiving_loop(lambda: parent.group_send(group, message))
