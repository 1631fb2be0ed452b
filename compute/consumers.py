"""The consoles in the browser: serial (/ws/console/<instance id>/) and graphical
(/ws/vnc/<instance id>/, at the end).

Authorises the user for the instance, then relays the guest's serial log. Simulated hosts
have no guest, and the consumer says so; on a real host it tails the log file libvirt writes
(`<serial><log file=.../>`), which needs the portal on the host's machine (or the log
directory shared). No libvirt calls and no writes here.
"""

import asyncio
import os
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer

from compute import console
from compute.models import Instance
from portal.consumers import CLOSE_UNAUTHENTICATED, close_with

POLL_S = 0.5
CHUNK = 64 * 1024
BACKLOG = 16 * 1024  # bytes of earlier output shown on connect
CLOSE_NOT_FOUND = 4404
SIMULATED_NOTE = (
    "This instance runs on a simulated host (libvirt's test driver): there is no guest, "
    "so there is no console output.\n"
)


@database_sync_to_async
def _console_of(user, instance_id):
    instance = Instance.objects.visible_to(user).live().select_related("host").filter(pk=instance_id).first()
    if instance is None:
        return None
    return {"simulated": instance.host is None or instance.host.simulated, "log": instance.serial_log_path}


class SerialConsoleConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await close_with(self, CLOSE_UNAUTHENTICATED)
            return
        console = await _console_of(user, self.scope["url_route"]["kwargs"]["instance_id"])
        if console is None:
            await close_with(self, CLOSE_NOT_FOUND)
            return
        await self.accept()
        self.tail = None
        if console["simulated"]:
            await self.send_json({"kind": "notice", "text": SIMULATED_NOTE})
        elif not console["log"]:
            await self.send_json({"kind": "notice", "text": "This instance has no serial log.\n"})
        else:
            self.tail = asyncio.ensure_future(self.follow(console["log"]))

    async def disconnect(self, code):
        if getattr(self, "tail", None) is not None:
            self.tail.cancel()

    async def receive_json(self, content, **kwargs):
        await self.send_json({"kind": "notice", "text": "The console is read-only.\n"})

    async def follow(self, path):
        position = None
        while True:
            try:
                size = os.path.getsize(path)
            except FileNotFoundError:
                size = None
            if size is not None:
                if position is None or size < position:  # first look, or the log was rotated
                    position = max(size - BACKLOG, 0) if position is None else 0
                if size > position:
                    with open(path, "rb") as log:
                        log.seek(position)
                        data = log.read(CHUNK)
                    position += len(data)
                    await self.send_json({"kind": "output", "text": data.decode("utf-8", "replace")})
                    continue
            await asyncio.sleep(POLL_S)


# --- graphical console ---------------------------------------------------------------------

CLOSE_REFUSED = 4409
CLOSE_BAD_TOKEN = 4403
VNC_CHUNK = 64 * 1024
VNC_CONNECT_TIMEOUT_S = 5


@database_sync_to_async
def _vnc_target(user, instance_id):
    """(refusal or None, port) of an instance the user may see, or None if it may not."""
    instance = Instance.objects.visible_to(user).live().select_related("host", "project").filter(pk=instance_id).first()
    if instance is None:
        return None
    return console.refusal(instance), instance.vnc_port


class VncProxyConsumer(AsyncWebsocketConsumer):
    """/ws/vnc/<instance id>/?token=...: bytes between the browser (noVNC speaks RFB over a
    binary websocket) and QEMU's VNC server on the host's loopback. The token (compute.console)
    ties the connection to the signed-in user and the instance for a minute."""

    def binary(self):
        # noVNC asks for "binary"; a browser drops a socket that does not get it back
        return "binary" if "binary" in (self.scope.get("subprotocols") or []) else None

    async def connect(self):
        self.reader = self.writer = self.pump = None
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await close_with(self, CLOSE_UNAUTHENTICATED, self.binary())
            return
        instance_id = self.scope["url_route"]["kwargs"]["instance_id"]
        token = parse_qs(self.scope.get("query_string", b"").decode()).get("token", [""])[0]
        if not console.check(token, user.pk, instance_id):
            await close_with(self, CLOSE_BAD_TOKEN, self.binary())
            return
        target = await _vnc_target(user, instance_id)
        if target is None:
            await close_with(self, CLOSE_NOT_FOUND, self.binary())
            return
        refusal, port = target
        await self.accept(self.binary())
        if refusal:
            await self.send(text_data=refusal)
            await self.close(code=CLOSE_REFUSED)
            return
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(console.VNC_LISTEN, port), VNC_CONNECT_TIMEOUT_S
            )
        except (TimeoutError, OSError) as exc:
            await self.send(text_data=f"Cannot reach the VNC server on port {port}: {exc}")
            await self.close(code=CLOSE_REFUSED)
            return
        self.pump = asyncio.ensure_future(self.from_vnc())

    async def from_vnc(self):
        while True:
            data = await self.reader.read(VNC_CHUNK)
            if not data:
                break
            await self.send(bytes_data=data)
        await self.close()

    async def receive(self, text_data=None, bytes_data=None):
        if self.writer is not None and bytes_data:
            self.writer.write(bytes_data)
            await self.writer.drain()

    async def disconnect(self, code):
        if self.pump is not None:
            self.pump.cancel()
        if self.writer is not None:
            self.writer.close()
