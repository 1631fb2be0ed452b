"""The production channel layer: channels_redis, made to survive a Redis restart.

Redis here keeps nothing on disk (it carries only the broker, the cache and this layer), so a
restart forgets every group membership. With the stock layer the one consumer of a web process
that was waiting on Redis when it went away raised ConnectionError (its socket closed without a
close frame) and every other open page of that process went on receiving from the new Redis
while belonging to no group: deaf, silently, until its hourly renewal. Here the first receiver
to see the connection break marks the layer lost for every receiver of the process; each
raises LayerLost and its consumer closes with 1012 (service restart), so browsers reconnect
and join their groups again. Joining and leaving a group retry past a pooled connection that
died with the old Redis (both are idempotent).
"""

import asyncio
import weakref

from channels_redis.core import RedisChannelLayer as StockRedisChannelLayer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

BROKEN = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)
CANCEL_WAIT_S = 5.0
STALE_S = 1.0  # a receive failing sooner than this met a dead pooled connection, not an outage
RETRY_DELAYS_S = (0.05, 0.5)  # a pooled connection from before the restart fails once, then reconnects


class LayerLost(Exception):
    """The connection to Redis broke: this consumer's group memberships may be gone."""


class RedisChannelLayer(StockRedisChannelLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # per event loop (as channels_redis keeps its pools): set when the connection broke, a
        # new one for the receivers that come after
        self._lost = weakref.WeakKeyDictionary()

    def _generation(self):
        loop = asyncio.get_running_loop()
        lost = self._lost.get(loop)
        if lost is None or lost.is_set():
            lost = self._lost[loop] = asyncio.Event()
        return lost

    async def receive(self, channel):
        lost = self._generation()
        loop = asyncio.get_running_loop()
        for attempt in range(2):
            started = loop.time()
            try:
                return await self._receive_or_lost(channel, lost)
            except BROKEN as error:
                # A receive that fails at once met a pooled connection that died with an earlier
                # Redis (this page joined its groups on the new one): once more. One that had been
                # waiting on Redis saw it go: every page of this process must join again.
                if attempt == 0 and loop.time() - started < STALE_S:
                    continue
                lost.set()
                raise LayerLost(f"the channel layer's Redis went away: {error}") from error

    async def _receive_or_lost(self, channel, lost):
        receiving = asyncio.ensure_future(super().receive(channel))
        watching = asyncio.ensure_future(lost.wait())
        try:
            await asyncio.wait({receiving, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watching.cancel()
            if not receiving.done():
                receiving.cancel()
                # bounded: a read that does not end on cancel must not hold up this task's own end
                await asyncio.wait({receiving}, timeout=CANCEL_WAIT_S)
        if not receiving.done() or receiving.cancelled():  # another receiver saw the connection break
            raise LayerLost("the channel layer's Redis went away")
        return receiving.result()  # or its error

    async def _again(self, call, *args, lost=True):
        for delay in (*RETRY_DELAYS_S, None):
            try:
                return await call(*args)
            except BROKEN as error:
                if delay is None:
                    if not lost:
                        raise
                    raise LayerLost(f"the channel layer's Redis does not answer: {error}") from error
                await asyncio.sleep(delay)

    async def group_add(self, group, channel):
        return await self._again(super().group_add, group, channel)

    async def group_discard(self, group, channel):
        return await self._again(super().group_discard, group, channel)

    # Sends too (a web process's publishes, /readyz's probe: its first one after a restart failed
    # on a dead pooled connection and the process was reported not ready); their callers handle
    # Redis' own errors, so those are raised as they are. A send repeated after a failure that
    # reached Redis would deliver twice: harmless for these events.
    async def send(self, channel, message):
        return await self._again(super().send, channel, message, lost=False)

    async def group_send(self, group, message):
        return await self._again(super().group_send, group, message, lost=False)
