"""The serial console in the browser: /ws/console/<instance id>/.

Authorises the user for the instance, then relays the guest's serial log. Simulated hosts
have no guest, and the consumer says so; on a real host it tails the log file libvirt writes
(`<serial><log file=.../>`), which needs the portal on the host's machine (or the log
directory shared). No libvirt calls and no writes here.
"""
import asyncio
import os

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from compute.models import Instance

POLL_S = 0.5
CHUNK = 64 * 1024
BACKLOG = 16 * 1024  # bytes of earlier output shown on connect
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
SIMULATED_NOTE = ("This instance runs on a simulated host (libvirt's test driver): there is no guest, "
                  "so there is no console output.\n")


@database_sync_to_async
def _console_of(user, instance_id):
    instance = (Instance.objects.visible_to(user).live().select_related("host")
                .filter(pk=instance_id).first())
    if instance is None:
        return None
    return {"simulated": instance.host is None or instance.host.simulated, "log": instance.serial_log_path}


class SerialConsoleConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        console = await _console_of(user, self.scope["url_route"]["kwargs"]["instance_id"])
        if console is None:
            await self.close(code=CLOSE_NOT_FOUND)
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
