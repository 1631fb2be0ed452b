"""Domain lifecycle events from libvirt, delivered as plain strings.

Callbacks run on the single libvirt event-loop thread: keep them short (put the event on a
queue or hand it to a task) and never block there, or every host's events stall.
"""

from __future__ import annotations

from collections.abc import Callable

import libvirt

from .connection import get_connection
from .errors import translated
from .loop import ensure_event_loop

LifecycleCallback = Callable[[str, str, str, str], None]  # (uri, uuid, event, detail)

_V = libvirt
EVENTS: dict[int, str] = {
    _V.VIR_DOMAIN_EVENT_DEFINED: "defined",
    _V.VIR_DOMAIN_EVENT_UNDEFINED: "undefined",
    _V.VIR_DOMAIN_EVENT_STARTED: "started",
    _V.VIR_DOMAIN_EVENT_SUSPENDED: "suspended",
    _V.VIR_DOMAIN_EVENT_RESUMED: "resumed",
    _V.VIR_DOMAIN_EVENT_STOPPED: "stopped",
    _V.VIR_DOMAIN_EVENT_SHUTDOWN: "shutdown",
    _V.VIR_DOMAIN_EVENT_PMSUSPENDED: "pmsuspended",
    _V.VIR_DOMAIN_EVENT_CRASHED: "crashed",
}
DETAILS: dict[int, dict[int, str]] = {
    _V.VIR_DOMAIN_EVENT_DEFINED: {
        _V.VIR_DOMAIN_EVENT_DEFINED_ADDED: "added",
        _V.VIR_DOMAIN_EVENT_DEFINED_UPDATED: "updated",
        _V.VIR_DOMAIN_EVENT_DEFINED_RENAMED: "renamed",
        _V.VIR_DOMAIN_EVENT_DEFINED_FROM_SNAPSHOT: "from_snapshot",
    },
    _V.VIR_DOMAIN_EVENT_UNDEFINED: {
        _V.VIR_DOMAIN_EVENT_UNDEFINED_REMOVED: "removed",
        _V.VIR_DOMAIN_EVENT_UNDEFINED_RENAMED: "renamed",
    },
    _V.VIR_DOMAIN_EVENT_STARTED: {
        _V.VIR_DOMAIN_EVENT_STARTED_BOOTED: "booted",
        _V.VIR_DOMAIN_EVENT_STARTED_MIGRATED: "migrated",
        _V.VIR_DOMAIN_EVENT_STARTED_RESTORED: "restored",
        _V.VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT: "from_snapshot",
        _V.VIR_DOMAIN_EVENT_STARTED_WAKEUP: "wakeup",
    },
    _V.VIR_DOMAIN_EVENT_SUSPENDED: {
        _V.VIR_DOMAIN_EVENT_SUSPENDED_PAUSED: "paused",
        _V.VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED: "migrated",
        _V.VIR_DOMAIN_EVENT_SUSPENDED_IOERROR: "ioerror",
        _V.VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG: "watchdog",
        _V.VIR_DOMAIN_EVENT_SUSPENDED_RESTORED: "restored",
        _V.VIR_DOMAIN_EVENT_SUSPENDED_FROM_SNAPSHOT: "from_snapshot",
        _V.VIR_DOMAIN_EVENT_SUSPENDED_API_ERROR: "api_error",
        _V.VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY: "postcopy",
        _V.VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY_FAILED: "postcopy_failed",
    },
    _V.VIR_DOMAIN_EVENT_RESUMED: {
        _V.VIR_DOMAIN_EVENT_RESUMED_UNPAUSED: "unpaused",
        _V.VIR_DOMAIN_EVENT_RESUMED_MIGRATED: "migrated",
        _V.VIR_DOMAIN_EVENT_RESUMED_FROM_SNAPSHOT: "from_snapshot",
        _V.VIR_DOMAIN_EVENT_RESUMED_POSTCOPY: "postcopy",
    },
    _V.VIR_DOMAIN_EVENT_STOPPED: {
        _V.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN: "shutdown",
        _V.VIR_DOMAIN_EVENT_STOPPED_DESTROYED: "destroyed",
        _V.VIR_DOMAIN_EVENT_STOPPED_CRASHED: "crashed",
        _V.VIR_DOMAIN_EVENT_STOPPED_MIGRATED: "migrated",
        _V.VIR_DOMAIN_EVENT_STOPPED_SAVED: "saved",
        _V.VIR_DOMAIN_EVENT_STOPPED_FAILED: "failed",
        _V.VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT: "from_snapshot",
    },
    _V.VIR_DOMAIN_EVENT_SHUTDOWN: {
        _V.VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED: "finished",
        _V.VIR_DOMAIN_EVENT_SHUTDOWN_GUEST: "guest",
        _V.VIR_DOMAIN_EVENT_SHUTDOWN_HOST: "host",
    },
    _V.VIR_DOMAIN_EVENT_PMSUSPENDED: {
        _V.VIR_DOMAIN_EVENT_PMSUSPENDED_MEMORY: "memory",
        _V.VIR_DOMAIN_EVENT_PMSUSPENDED_DISK: "disk",
    },
    _V.VIR_DOMAIN_EVENT_CRASHED: {
        _V.VIR_DOMAIN_EVENT_CRASHED_PANICKED: "panicked",
    },
}


def describe_lifecycle(event: int, detail: int) -> tuple[str, str]:
    """libvirt's (event, detail) numbers as strings; unknown ones as 'unknown-<n>'."""
    name = EVENTS.get(event, f"unknown-{event}")
    return name, DETAILS.get(event, {}).get(detail, f"unknown-{detail}")


def watch_lifecycle(uri: str, callback: LifecycleCallback) -> int:
    """Call ``callback(uri, uuid, event, detail)`` for every lifecycle event on the host.

    Returns a watch id for unwatch_lifecycle. The watch lives as long as the pooled
    connection: after close_all() or a reconnect, register again.
    """
    ensure_event_loop()
    conn = get_connection(uri)

    def relay(_conn: libvirt.virConnect, dom: libvirt.virDomain, event: int, detail: int, _opaque: object) -> None:
        callback(uri, dom.UUIDString(), *describe_lifecycle(event, detail))

    with translated(uri):
        return conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, relay, None)


def unwatch_lifecycle(uri: str, watch_id: int) -> None:
    conn = get_connection(uri)
    with translated(uri):
        conn.domainEventDeregisterAny(watch_id)
