"""The production channel layer: channels_redis's pub/sub layer, made to say when Redis restarted.

Why pub/sub: a message to a group is one PUBLISH, and each web process reads every message for
its sockets from one subscription as it arrives. channels_redis's list-based layer paid four
round trips per message through a process's event loop, one message at a time (clean-up script,
blocking pop, backup add, backup remove) and five per group send; on the fleet under load a
message waited 0.4-1.5 s (p99) between the publisher and the consumer, nearly all of it there.

Why the watch: Redis here keeps nothing on disk, and a publish made while the subscription is
down is lost. When the subscription connection breaks (or redis-py re-established it between two
reads) every socket of the process is told with LayerLost, and its consumer closes with 1012
(service restart), so browsers reconnect, join their groups again and catch up; the process's
layer starts afresh for them. Joining a group while Redis is away raises LayerLost too.
"""

import asyncio
import logging

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close, create_pool, decode_hosts
from redis import asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)
BROKEN = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)
CAPACITY = 100  # messages waiting per socket before more are dropped (channels_redis's default)
POLL_S = 0.1  # as channels_redis: how long one read waits before the loop looks again
LOST = object()  # put in every waiting socket's queue when the subscription broke


class LayerLost(Exception):
    """The connection to Redis broke: messages for this consumer may have been lost."""


class WatchedPubSub(PubSub):
    """Tells when redis-py connected again by itself (it re-subscribes, but what was published
    meanwhile is gone). The first connection does not call on_connect: the pool connects it
    before the callback is registered."""

    def __init__(self, *args, on_reconnect, **kwargs):
        super().__init__(*args, **kwargs)
        self.on_reconnect = on_reconnect

    async def on_connect(self, connection):
        self.on_reconnect()
        await super().on_connect(connection)


class Shard(RedisSingleShardConnection):
    def _ensure_redis(self):
        if self._redis is None:
            self._redis = aioredis.Redis(connection_pool=create_pool(self.host))
            self._pubsub = WatchedPubSub(self._redis.connection_pool, on_reconnect=self.channel_layer.lost)

    async def _do_receiving(self):
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_S)
                    self._receive_message(message)
                else:
                    await asyncio.sleep(POLL_S)
            except BROKEN as error:
                log.warning("the channel layer's subscription to Redis broke: %s", error)
                self.channel_layer.lost()
                return  # the layer's reset replaces this connection and its reader
            except Exception:  # noqa: BLE001 - as channels_redis: one bad message must not end the reader
                log.exception("the channel layer's reader failed on a message")

    async def flush(self):
        pubsub = self._pubsub
        await super().flush()
        if pubsub is not None:
            try:
                await pubsub.aclose()
            except (*BROKEN, RuntimeError):
                pass  # its connection went with the pool

    def _receive_message(self, message):
        if message is None:
            return
        name, data = message["channel"], message["data"]
        name = name.decode() if isinstance(name, bytes) else name
        layer = self.channel_layer
        for channel in (name,) if name in layer.channels else layer.groups.get(name, ()):
            queue = layer.channels.get(channel)
            if queue is not None and queue.qsize() < CAPACITY:
                queue.put_nowait(data)


class LoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, hosts=None, **kwargs):
        super().__init__(*args, hosts=hosts, **kwargs)
        self._shards = [Shard(host, self) for host in decode_hosts(hosts)]
        self._resetting = None
        self._lost_channels = set()

    def lost(self):
        """Every socket of this loop is told (a waiting one wakes on LOST, the others at their next
        receive); the ones that come after start on a new connection."""
        if self._resetting is not None and not self._resetting.done():
            return
        self._lost_channels.update(self.channels)
        for queue in self.channels.values():
            queue.put_nowait(LOST)
        self._resetting = asyncio.ensure_future(self.flush())  # new channels and groups, connection closed

    async def receive(self, channel):
        if channel not in self._lost_channels:
            message = await super().receive(channel)
            if message is not LOST:
                return message
        self._lost_channels.discard(channel)
        raise LayerLost("the channel layer's connection to Redis broke")

    async def _joined(self, call, *args):
        try:
            return await call(*args)
        except BROKEN as error:
            raise LayerLost(f"the channel layer's Redis does not answer: {error}") from error

    async def new_channel(self, prefix="specific."):
        return await self._joined(super().new_channel, prefix)

    async def group_add(self, group, channel):
        return await self._joined(super().group_add, group, channel)

    async def group_discard(self, group, channel):
        return await self._joined(super().group_discard, group, channel)


class RedisChannelLayer(RedisPubSubChannelLayer):
    """channels_redis's per-event-loop proxy, with the LoopLayer above."""

    def deserialize(self, message):
        return message if message is LOST else super().deserialize(message)

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return layer
