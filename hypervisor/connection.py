"""One libvirt connection per host URI per process.

libvirt connections are thread-safe, so every thread shares the pooled one; the lock per
URI only serialises opening. Sharing also matters for correctness: every ``open()`` of
``test:///path/node.xml`` creates a fresh, empty simulated host, so a second connection
would see a different host.
"""

from __future__ import annotations

import os
import threading
import time
from urllib.parse import urlsplit

import libvirt

from .errors import HostUnreachable, HypervisorError, InvalidConfig, from_libvirt_error
from .loop import ensure_event_loop

SIMULATED_SCHEMES = frozenset({"test"})
REAL_SCHEMES = frozenset({"qemu", "qemu+ssh", "qemu+tcp", "qemu+tls"})
REMOTE_SCHEMES = frozenset({"qemu+ssh", "qemu+tcp", "qemu+tls"})

OPEN_TIMEOUT_S = float(os.environ.get("NUBES_LIBVIRT_OPEN_TIMEOUT", "20"))
OPEN_ATTEMPTS = 4
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 8.0
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3

_pool: dict[str, libvirt.virConnect] = {}
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
_sleep = time.sleep  # tests replace it to check the backoff without waiting


def _silence_libvirt(_ctx: object, _err: object) -> None:
    # libvirt prints every error to stderr by default; ours surface as typed exceptions.
    return None


libvirt.registerErrorHandler(_silence_libvirt, None)


def validate_uri(uri: str) -> str:
    """Return the URI's scheme, or raise InvalidConfig for a URI the gateway does not accept."""
    parts = urlsplit(uri)
    scheme = parts.scheme
    if scheme in SIMULATED_SCHEMES:
        if parts.netloc:
            raise InvalidConfig(f"test driver URIs must be local: {uri!r}", uri=uri)
        if parts.path != "/default" and not (os.path.isabs(parts.path) and parts.path.endswith(".xml")):
            raise InvalidConfig(f"expected test:///default or test:///abs/path/node.xml, got {uri!r}", uri=uri)
        return scheme
    if scheme not in REAL_SCHEMES:
        raise InvalidConfig(f"unsupported libvirt URI scheme in {uri!r}", uri=uri)
    if scheme in REMOTE_SCHEMES and not parts.hostname:
        raise InvalidConfig(f"remote URI without a host: {uri!r}", uri=uri)
    return scheme


def is_local(uri: str) -> bool:
    """True when the URI names no machine (qemu:///system, qemu:///session, test:///default): it
    opens the libvirtd, or the test driver, of whichever process opens it, so the host is the
    portal's own machine. A URI naming a machine (qemu+tcp://10.99.0.2/system, even
    qemu://10.99.0.2/system or qemu+ssh://localhost/system) is remote. The one test of locality
    (host memory, offline chains, the serial console, the KVM probe, compute's broker check); a
    caller that needs real files also asks is_simulated."""
    validate_uri(uri)
    return not urlsplit(uri).hostname


def is_simulated(uri: str) -> bool:
    """True for libvirt test-driver hosts, whose gaps the gateway fills with simulations."""
    return validate_uri(uri) in SIMULATED_SCHEMES


def _lock_for(uri: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(uri, threading.Lock())


def _open_with_timeout(uri: str) -> libvirt.virConnect:
    # libvirt.open has no timeout of its own (an ssh link can hang); run it in a helper
    # thread and give up waiting after OPEN_TIMEOUT_S. A late success is closed.
    result: dict = {}
    done = threading.Event()
    abandoned = threading.Event()

    def target() -> None:
        try:
            conn = libvirt.open(uri)
        except libvirt.libvirtError as exc:
            result["error"] = exc
        else:
            if abandoned.is_set():
                conn.close()
            else:
                result["conn"] = conn
        done.set()

    threading.Thread(target=target, name=f"libvirt-open {uri}", daemon=True).start()
    if not done.wait(OPEN_TIMEOUT_S):
        abandoned.set()
        raise HostUnreachable(f"opening {uri} timed out after {OPEN_TIMEOUT_S:g} s", uri=uri)
    error = result.get("error")
    if error is not None:
        raise from_libvirt_error(error, uri) from error
    return result["conn"]


def _open(uri: str, scheme: str, attempts: int | None = None) -> libvirt.virConnect:
    attempts = attempts or OPEN_ATTEMPTS
    delay = BACKOFF_START_S
    for attempt in range(1, attempts + 1):
        try:
            conn = _open_with_timeout(uri)
        except HostUnreachable:
            if attempt == attempts:
                raise
            _sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)
            continue
        except HypervisorError as exc:
            # Any other failure (bad URI, driver missing) will not heal by retrying.
            raise HostUnreachable(f"cannot open {uri}: {exc}", uri=uri, code=exc.code) from exc
        if scheme in REMOTE_SCHEMES:
            try:
                conn.setKeepAlive(KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT)
            except libvirt.libvirtError as exc:
                conn.close()
                raise from_libvirt_error(exc, uri) from exc
        return conn
    raise AssertionError("unreachable")  # the loop always returns or raises


def get_connection(uri: str, attempts: int | None = None) -> libvirt.virConnect:
    """The pooled connection for ``uri``; (re)opens it with bounded backoff when needed
    (``attempts`` opens, OPEN_ATTEMPTS by default; a liveness probe wants one)."""
    scheme = validate_uri(uri)
    ensure_event_loop()
    with _lock_for(uri):
        conn = _pool.get(uri)
        if conn is not None:
            if conn.isAlive():
                return conn
            _pool.pop(uri, None)
            _close_quietly(conn)
        conn = _open(uri, scheme, attempts)
        _pool[uri] = conn
        return conn


def _close_quietly(conn: libvirt.virConnect) -> None:
    try:
        conn.close()
    except libvirt.libvirtError:
        pass  # already broken: nothing left to release


def close_all() -> None:
    """Close every pooled connection. Tests call it to get fresh simulated hosts."""
    with _locks_guard:
        uris = list(_pool)
    for uri in uris:
        with _lock_for(uri):
            conn = _pool.pop(uri, None)
            if conn is not None:
                _close_quietly(conn)


def lookup_domain(uri: str, uuid: str) -> libvirt.virDomain:
    """The domain with this UUID on the host; DomainNotFound if there is none."""
    conn = get_connection(uri)
    try:
        return conn.lookupByUUIDString(uuid)
    except libvirt.libvirtError as exc:
        raise from_libvirt_error(exc, uri) from exc
