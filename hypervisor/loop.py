"""libvirt's default event loop, started once per process in a daemon thread.

Keepalive on remote connections, close callbacks and domain events all need it, and
libvirt requires the implementation to be registered before a connection opens.
"""

from __future__ import annotations

import threading

import libvirt

_lock = threading.Lock()
_thread: threading.Thread | None = None


def _run() -> None:
    while True:
        libvirt.virEventRunDefaultImpl()


def ensure_event_loop() -> None:
    """Register libvirt's default event implementation and start its thread (idempotent)."""
    global _thread
    with _lock:
        if _thread is not None:
            return
        libvirt.virEventRegisterDefaultImpl()
        _thread = threading.Thread(target=_run, name="libvirt-event-loop", daemon=True)
        _thread.start()
