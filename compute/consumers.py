"""The consoles in the browser: serial (/ws/console/<instance id>/) and graphical
(/ws/vnc/<instance id>/, at the end).

Authorises the user for the instance, then relays the guest's serial log. Simulated hosts
have no guest, and the consumer says so; on a real host it tails the log file libvirt writes
(`<serial><log file=.../>`): the file itself on the portal's own host, over the libvirt
connection on a remote one (compute.services.serial, in a thread). Input (``{"input": text}``,
members and admins) goes into the guest's console over the libvirt connection on every host
(hypervisor.console_open, a stream opened at the first keystroke and taken from whoever typed
before); its output still comes from the log, which every viewer shares.
"""

import asyncio
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer

from compute import console, rfb
from compute.choices import InstanceState
from compute.models import Instance
from compute.models.migration import MigrationState
from compute.services.serial import INPUT_ERRORS as STREAM_ERRORS
from compute.services.serial import READ_ERRORS, open_input, serial_log
from portal.consumers import CLOSE_UNAUTHENTICATED, NoHopDispatch, close_with

POLL_S = 0.5
MIGRATION_ACTIVE = (MigrationState.QUEUED, MigrationState.RUNNING)
CHUNK = 64 * 1024
BACKLOG = 16 * 1024  # bytes of earlier output shown on connect
INPUT_MAX = 4096  # characters of one input message
READER_INPUT = "Readers cannot type into the console.\n"
INPUT_TAKEN = (
    "The console's input was closed (another session typed into it, or the guest stopped or moved); "
    "type here to take it back.\n"
)
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
    simulated = instance.host is None or instance.host.simulated
    return {
        "simulated": simulated,
        "log": instance.serial_log_path,
        "uri": None if simulated else instance.host.uri,
        "may_type": console.may_open(user, instance),
    }


@database_sync_to_async
def _typing_target(instance_id):
    """(host URI, domain UUID) of the instance now (it may have moved since the socket opened)."""
    instance = Instance.objects.live().select_related("host").filter(pk=instance_id).first()
    if instance is None or instance.host is None or instance.host.simulated:
        return None
    return instance.host.uri, str(instance.uuid)


class NoGuest(Exception):
    """The instance has no guest to type into (deleted, or on a simulated host now)."""


INPUT_ERRORS = (*STREAM_ERRORS, NoGuest)


class SerialConsoleConsumer(NoHopDispatch, AsyncJsonWebsocketConsumer):
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
        self.tail = self.writer = self.draining = None
        self.may_type = console["may_type"] and not console["simulated"]
        self.instance_id = self.scope["url_route"]["kwargs"]["instance_id"]
        if console["simulated"]:
            await self.send_json({"kind": "notice", "text": SIMULATED_NOTE})
        elif not console["log"]:
            await self.send_json({"kind": "notice", "text": "This instance has no serial log.\n"})
        else:
            self.tail = asyncio.ensure_future(self.follow(serial_log(console["uri"], console["log"])))

    async def disconnect(self, code):
        if getattr(self, "tail", None) is not None:
            self.tail.cancel()
        if getattr(self, "draining", None) is not None:
            self.draining.cancel()
        await self.drop_writer()

    async def receive_json(self, content, **kwargs):
        text = content.get("input") if isinstance(content, dict) else None
        if not isinstance(text, str) or not text or len(text) > INPUT_MAX:
            await self.send_json({"kind": "notice", "text": f'Send {{"input": text}} (1-{INPUT_MAX} characters).\n'})
            return
        if not self.may_type:
            await self.send_json({"kind": "notice", "text": READER_INPUT})
            return
        held = self.writer is not None
        try:
            await self.type_in(text.encode())
        except INPUT_ERRORS as exc:
            await self.drop_writer()
            if not held:
                await self.send_json({"kind": "notice", "text": f"The console takes no input now: {exc}\n"})
                return
            try:  # the stream held ended (taken, or the guest moved): open it again once
                await self.type_in(text.encode())
            except INPUT_ERRORS as again:
                await self.drop_writer()
                await self.send_json({"kind": "notice", "text": f"The console takes no input now: {again}\n"})

    async def type_in(self, data):
        if self.writer is None:
            target = await _typing_target(self.instance_id)
            if target is None:
                raise NoGuest("this instance has no guest to type into")
            self.writer = await asyncio.to_thread(open_input, *target)
            self.draining = asyncio.ensure_future(self.drain(self.writer))
        await asyncio.to_thread(self.writer.send, data)

    async def drain(self, writer):
        """Empty the input stream's own reading while it is held; say so when another takes it."""
        try:
            while self.writer is writer:
                await asyncio.to_thread(writer.drain)
                await asyncio.sleep(POLL_S)
        except INPUT_ERRORS:
            if self.writer is writer:
                self.writer = None
                await self.send_json({"kind": "notice", "text": INPUT_TAKEN})

    async def drop_writer(self):
        writer, self.writer = getattr(self, "writer", None), None
        if writer is not None:
            await asyncio.to_thread(writer.close)

    async def follow(self, log):
        position, failing = None, False
        while True:
            try:
                size = await asyncio.to_thread(log.size)
                if size is not None and (position is None or size < position):
                    # first look, or the log was rotated
                    position = max(size - BACKLOG, 0) if position is None else 0
                data = (
                    await asyncio.to_thread(log.read, position, min(CHUNK, size - position))
                    if size and size > position
                    else b""
                )
            except READ_ERRORS as exc:
                if not failing:  # say it once, keep trying (a host briefly unreachable)
                    await self.send_json({"kind": "notice", "text": f"The serial log cannot be read now: {exc}\n"})
                failing, data = True, b""
            else:
                failing = False
            if data:
                position += len(data)
                await self.send_json({"kind": "output", "text": data.decode("utf-8", "replace")})
                continue
            await asyncio.sleep(POLL_S)


# --- graphical console ---------------------------------------------------------------------

CLOSE_REFUSED = 4409
CLOSE_BAD_TOKEN = 4403
CLOSE_ENDED = 4410  # the VNC server went away: the instance moved, stopped or the host dropped it
VNC_CHUNK = 64 * 1024
VNC_CONNECT_TIMEOUT_S = 5
CLOSE_REASON_BYTES = 123  # what a websocket close frame carries


@database_sync_to_async
def _vnc_target(user, instance_id):
    """(refusal or None, (address, port, password, host id)) of an instance the user may see, or None."""
    instance = Instance.objects.visible_to(user).live().select_related("host", "project").filter(pk=instance_id).first()
    if instance is None:
        return None
    refusal = console.refusal(instance)
    if refusal:
        return refusal, None
    host = instance.host
    return None, (console.listen_address(host), instance.vnc_port, console.vnc_password(instance), host.pk)


@database_sync_to_async
def _why_ended(instance_id, host_id):
    """Why the VNC server's connection ended, from what the database says now."""
    instance = Instance.objects.select_related("host").filter(pk=instance_id).first()
    if instance is None or instance.deleted:
        return "The instance was deleted; its console is gone."
    if instance.host_id != host_id:
        return f"{instance.name} moved to host {instance.host.name}: open the console again to reach it there."
    migrating = instance.migrations.filter(state__in=MIGRATION_ACTIVE).select_related("target").first()
    if migrating is not None and migrating.target is not None:
        return f"{instance.name} is migrating to {migrating.target.name}: open the console again once it has moved."
    if instance.state != InstanceState.ACTIVE:
        return f"{instance.name} is {instance.get_state_display().lower()}; its graphical console opens while it runs."
    return f"The VNC server of {instance.name} closed the connection."


def _close_reason(text):
    return text.encode()[:CLOSE_REASON_BYTES].decode("utf-8", "ignore")


class VncProxyConsumer(NoHopDispatch, AsyncWebsocketConsumer):
    """/ws/vnc/<instance id>/?token=...: the browser (noVNC speaks RFB over a binary websocket)
    and QEMU's VNC server on the instance's host. The token (compute.console) ties the connection
    to the signed-in user and the instance for a minute. The proxy authenticates to QEMU with the
    instance's VNC password (inside TLS when a VNC CA is configured) and offers the browser no
    authentication (compute.rfb)."""

    def binary(self):
        # noVNC asks for "binary"; a browser drops a socket that does not get it back
        return "binary" if "binary" in (self.scope.get("subprotocols") or []) else None

    async def connect(self):
        self.reader = self.writer = self.pump = None
        self.handshake = rfb.BrowserHandshake()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await close_with(self, CLOSE_UNAUTHENTICATED, self.binary())
            return
        self.instance_id = self.scope["url_route"]["kwargs"]["instance_id"]
        token = parse_qs(self.scope.get("query_string", b"").decode()).get("token", [""])[0]
        if not console.check(token, user.pk, self.instance_id):
            await close_with(self, CLOSE_BAD_TOKEN, self.binary())
            return
        target = await _vnc_target(user, self.instance_id)
        if target is None:
            await close_with(self, CLOSE_NOT_FOUND, self.binary())
            return
        refusal, where = target
        await self.accept(self.binary())
        if refusal:
            await self.refuse(refusal)
            return
        address, port, password, self.host_id = where
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(address, port), VNC_CONNECT_TIMEOUT_S
            )
            await asyncio.wait_for(
                rfb.authenticate(self.reader, self.writer, password, console.tls_context(), address),
                VNC_CONNECT_TIMEOUT_S,
            )
        except (TimeoutError, OSError) as exc:
            await self.refuse(f"Cannot reach the VNC server at {address}:{port}: {exc or 'timed out'}")
            return
        except rfb.HandshakeFailed as exc:
            await self.refuse(f"The VNC server at {address}:{port} refused the proxy: {exc}")
            return
        await self.send(bytes_data=self.handshake.greeting())

    async def refuse(self, text):
        await self.send(text_data=text)
        await self.close(code=CLOSE_REFUSED, reason=_close_reason(text))
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def from_vnc(self):
        while True:
            data = await self.reader.read(VNC_CHUNK)
            if not data:
                break
            await self.send(bytes_data=data)
        reason = await _why_ended(self.instance_id, self.host_id)
        await self.send(text_data=reason)
        await self.close(code=CLOSE_ENDED, reason=_close_reason(reason))

    async def receive(self, text_data=None, bytes_data=None):
        if self.writer is None or not bytes_data:
            return
        if not self.handshake.done:
            try:
                reply, bytes_data = self.handshake.feed(bytes_data)
            except rfb.HandshakeFailed as exc:
                await self.refuse(str(exc))
                return
            if reply:
                await self.send(bytes_data=reply)
            if not self.handshake.done:
                return
            self.pump = asyncio.ensure_future(self.from_vnc())
        if bytes_data:
            self.writer.write(bytes_data)
            await self.writer.drain()

    async def disconnect(self, code):
        if self.pump is not None:
            self.pump.cancel()
        if self.writer is not None:
            self.writer.close()
