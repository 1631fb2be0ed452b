"""One websocket endpoint, /ws/: the browser subscribes to groups by name; the consumer
checks the registry in portal.realtime, joins, and relays. No reads beyond that, no writes."""

import asyncio
import os
import time

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from portal import realtime
from portal.redis_layer import LayerLost

MAX_GROUPS = 64
# Channel layers drop a group member group_expiry after it joined (a day by default, in Redis
# and in memory): a page open longer would stop hearing its groups without noticing. Joining
# again renews the membership.
GROUP_RENEW_S = 3600
CLOSE_UNAUTHENTICATED = 4401
CLOSE_SERVICE_RESTART = 1012  # the channel layer lost Redis: reconnect and join again
PROCESS_HEADER = b"x-nubes-process"  # which server process holds the socket (a deployment runs several)


async def close_with(consumer, code, subprotocol=None):
    """Accept, then close with `code`: closing before accepting refuses the handshake with a
    bare HTTP 403, and the code never reaches the browser."""
    await consumer.accept(subprotocol)
    await consumer.close(code=code)


class NoHopDispatch:
    """channels closes old database connections before every message's handler, through
    sync_to_async: a hop to the one thread that every consumer of the process shares (channels
    gives consumers no thread of their own, as Django does each request), so a message to 25
    sockets made 25 hops one after the other, each behind the others' database calls and waiting
    for the GIL on busy cores. These consumers touch the database only through
    database_sync_to_async, which closes old connections itself, in the thread that uses them."""

    async def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


class StreamConsumer(NoHopDispatch, AsyncJsonWebsocketConsumer):
    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        except LayerLost:
            renewer = getattr(self, "renewer", None)
            if renewer is not None:
                renewer.cancel()
            await send({"type": "websocket.close", "code": CLOSE_SERVICE_RESTART})

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await close_with(self, CLOSE_UNAUTHENTICATED)
            return
        self.groups_joined = set()
        await self.accept(headers=[(PROCESS_HEADER, str(os.getpid()).encode())])
        self.renewer = asyncio.ensure_future(self.renew_groups())

    async def renew_groups(self):
        while True:
            await asyncio.sleep(GROUP_RENEW_S)
            for group in list(self.groups_joined):
                await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code):
        renewer = getattr(self, "renewer", None)
        if renewer is not None:
            renewer.cancel()
        try:
            for group in getattr(self, "groups_joined", ()):
                await self.channel_layer.group_discard(group, self.channel_name)
        except LayerLost:
            pass  # Redis is gone or restarted: the memberships went with it

    async def receive_json(self, content, **kwargs):
        action = content.get("action") if isinstance(content, dict) else None
        group = content.get("group") if isinstance(content, dict) else None
        if action == "subscribe" and isinstance(group, str):
            await self.subscribe(group)
        elif action == "unsubscribe" and group in self.groups_joined:
            self.groups_joined.discard(group)
            await self.channel_layer.group_discard(group, self.channel_name)
            await self.send_json({"event": "unsubscribed", "group": group})
        else:
            await self.send_json({"event": "error", "detail": "Send {action: subscribe|unsubscribe, group: name}."})

    async def subscribe(self, group):
        allowed = len(self.groups_joined) < MAX_GROUPS and await database_sync_to_async(realtime.may_join)(
            self.scope["user"], group
        )
        if not allowed:
            await self.send_json({"event": "denied", "group": group})
            return
        self.groups_joined.add(group)
        await self.channel_layer.group_add(group, self.channel_name)
        await self.send_json({"event": "subscribed", "group": group})

    async def relay(self, message):
        # sent / relayed: when the publisher handed it to the layer and when this process relayed it
        # (epoch seconds; bench/load.py splits delivery with them)
        await self.send_json(
            {
                "group": message["group"],
                "event": message["event"],
                "data": message["data"],
                "sent": message.get("sent"),
                "relayed": time.time(),
            }
        )
