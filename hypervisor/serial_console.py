"""Keystrokes into a domain's serial console over the host's libvirt connection: the stream of
virDomainOpenConsole, which libvirt carries over every URI (qemu:///system and qemu+tcp:// alike),
so a web process types into a guest on any host without a file or a pty of its own.

Output is not taken from here: the serial log (serial_log.py, or the file on the portal's own
host) serves any number of viewers with its history, while a console stream belongs to one
client per device. So a stream is opened only when someone types, with FORCE: the last viewer to
type holds the input (libvirt closes the stream of the one before, who is told and can take it
back by typing). What the stream reads (the same bytes the log gets) is drained and dropped, so
nothing piles up in the client. Non-blocking: every call returns at once; callers poll
``drain()`` while they hold a writer. Not supported by the test driver (NotSupported).
"""

from __future__ import annotations

import time

import libvirt

from .connection import get_connection, lookup_domain
from .errors import HypervisorError, translated

OPEN_FLAGS = libvirt.VIR_DOMAIN_CONSOLE_FORCE | libvirt.VIR_DOMAIN_CONSOLE_SAFE
WOULD_BLOCK = -2  # what a non-blocking stream's send and recv return for "try again"
SEND_TIMEOUT_S = 5.0
SEND_RETRY_S = 0.01
DRAIN_CHUNK = 64 * 1024


class ConsoleClosed(HypervisorError):
    """The console stream ended: another client took the console, or the domain stopped or left."""


class ConsoleWriter:
    """One open console stream of one domain (by UUID); send() keystrokes, drain() what it reads."""

    def __init__(self, uri: str, uuid: str):
        self.uri, self.uuid = uri, uuid
        domain = lookup_domain(uri, uuid)
        conn = get_connection(uri)
        with translated(uri):
            self.stream = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
            try:
                domain.openConsole(None, self.stream, OPEN_FLAGS)
            except libvirt.libvirtError:
                self._abort()
                raise
        self.closed = False

    def send(self, data: bytes) -> None:
        """Write all of ``data`` (retrying while the stream is full, up to SEND_TIMEOUT_S)."""
        deadline = time.monotonic() + SEND_TIMEOUT_S
        while data:
            sent = self._call(self.stream.send, data)
            if sent == WOULD_BLOCK:
                if time.monotonic() > deadline:
                    raise ConsoleClosed(f"the console of {self.uuid} takes no input", uri=self.uri)
                time.sleep(SEND_RETRY_S)
                continue
            data = data[sent:]

    def drain(self) -> int:
        """Read and drop what the stream has now; returns the byte count. ConsoleClosed at its end."""
        total = 0
        while True:
            data = self._call(self.stream.recv, DRAIN_CHUNK)
            if data == WOULD_BLOCK:
                return total
            if not data:
                self.close()
                raise ConsoleClosed(f"the console of {self.uuid} was closed", uri=self.uri)
            total += len(data)

    def _call(self, verb, arg):
        if self.closed:
            raise ConsoleClosed(f"the console of {self.uuid} is closed", uri=self.uri)
        try:
            return verb(arg)
        except libvirt.libvirtError as exc:
            self.close()
            raise ConsoleClosed(f"the console of {self.uuid} ended: {exc}", uri=self.uri) from exc

    def close(self) -> None:
        if not getattr(self, "closed", True):
            self.closed = True
            self._abort()

    def _abort(self) -> None:
        try:
            self.stream.abort()
        except libvirt.libvirtError:
            pass  # already ended on the daemon's side


def console_open(uri: str, uuid: str) -> ConsoleWriter:
    """A writer into the domain's serial console, taking it from any client that holds it."""
    return ConsoleWriter(uri, uuid)
