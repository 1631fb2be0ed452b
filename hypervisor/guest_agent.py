"""The QEMU guest agent as a control channel (virtio-serial ``org.qemu.guest_agent.0``).

Every call goes through libvirt's ``qemuAgentCommand`` with its own timeout: no network path
into the guest, no SSH keys. Scripts run with ``guest-exec`` are named, never built: the name
must be in the caller's allow-list and is joined to ``SCRIPT_DIR``; the arguments travel as one
JSON object on the script's stdin (``input-data``), never on a command line or through a shell.

Typed errors (all ``GuestAgentError``, itself a ``HypervisorError``):
    GuestAgentUnavailable   no channel, the agent is not connected / not running, or a simulated
                            host (libvirt's test driver has no agent)
    GuestAgentTimeout       the agent (or a script) did not answer within the timeout
    GuestCommandFailed      the agent answered with an error (e.g. no such file)
    GuestScriptFailed       a script exited non-zero (exit code, stdout, stderr kept)
Bad names, arguments or paths raise ``InvalidConfig`` before anything is sent.
"""

from __future__ import annotations

import base64
import json
import posixpath
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import libvirt
import libvirt_qemu

from .connection import is_simulated, lookup_domain
from .errors import HypervisorError, InvalidConfig, NotSupported, from_libvirt_error

SCRIPT_DIR = "/usr/lib/nubes-agent"
SCRIPT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
MAX_INPUT_BYTES = 64 * 1024  # the JSON a script gets on stdin
MAX_READ_BYTES = 1024 * 1024  # one guest-file-read
DEFAULT_TIMEOUT_S = 10  # one agent command
DEFAULT_SCRIPT_TIMEOUT_S = 60.0  # a script, from guest-exec to its exit

# libvirt's messages for an agent that is absent, as opposed to one that is too slow.
_NOT_THERE = ("not connected", "not configured", "disappeared", "not available due to an error")
_TIMED_OUT = "not available for now"  # qemuAgentSend's timeout


class GuestAgentError(HypervisorError):
    """Base of the guest agent's errors."""


class GuestAgentUnavailable(GuestAgentError, NotSupported):
    """The guest has no QEMU guest agent that answers (fstrim, quiesce, scripts need one)."""


class GuestAgentTimeout(GuestAgentError):
    """The agent or a script did not answer in time (the guest may be overloaded)."""


class GuestCommandFailed(GuestAgentError):
    """The agent answered the command with an error."""


class GuestScriptFailed(GuestAgentError):
    """A script ran and exited non-zero; its output is kept for the Operation's message."""

    def __init__(self, script: str, result: ScriptResult, *, uri: str | None = None):
        detail = (result.output or {}).get("error") if isinstance(result.output, dict) else None
        reason = detail or result.stderr.strip() or result.stdout.strip() or "no output"
        how = f"signal {result.signal}" if result.signal else f"exit code {result.exit_code}"
        super().__init__(f"script {script!r} failed ({how}): {reason}", uri=uri)
        self.script = script
        self.result = result


@dataclass(frozen=True)
class ScriptResult:
    exit_code: int | None
    stdout: str
    stderr: str
    output: object = None  # stdout parsed as JSON when it is JSON
    signal: int | None = None
    truncated: bool = False
    duration_s: float = 0.0


@dataclass(frozen=True)
class FileChunk:
    data: bytes
    offset: int  # where data starts in the file
    eof: bool


@dataclass(frozen=True)
class TrimResult:
    paths: tuple[dict, ...] = field(default_factory=tuple)  # the agent's per-mount answers


def agent_error(exc: libvirt.libvirtError, uri: str | None = None) -> HypervisorError:
    """The typed error for a libvirt error raised by an agent command."""
    code, message = exc.get_error_code(), exc.get_error_message() or str(exc)
    lowered = message.lower()
    if code == libvirt.VIR_ERR_AGENT_UNRESPONSIVE and _TIMED_OUT in lowered:
        return GuestAgentTimeout(message, uri=uri, code=code)
    if code in (libvirt.VIR_ERR_AGENT_UNRESPONSIVE, libvirt.VIR_ERR_AGENT_UNSYNCED) or any(
        phrase in lowered for phrase in _NOT_THERE
    ):
        return GuestAgentUnavailable(message, uri=uri, code=code)
    if code == libvirt.VIR_ERR_NO_SUPPORT:
        return GuestAgentUnavailable(f"this host cannot reach a guest agent: {message}", uri=uri, code=code)
    if code == libvirt.VIR_ERR_INTERNAL_ERROR and "agent command" in lowered:
        return GuestCommandFailed(message, uri=uri, code=code)
    return from_libvirt_error(exc, uri)


def agent_command(
    uri: str, uuid: str, execute: str, arguments: dict | None = None, *, timeout: int = DEFAULT_TIMEOUT_S
):
    """Send one agent command; its ``return`` value. Raises the typed errors above."""
    if not isinstance(timeout, int) or timeout < 1:
        raise InvalidConfig(f"timeout must be a whole number of seconds >= 1, got {timeout!r}")
    if is_simulated(uri):
        raise GuestAgentUnavailable("a simulated host has no guest agent", uri=uri)
    dom = lookup_domain(uri, uuid)
    command = {"execute": execute} | ({"arguments": arguments} if arguments else {})
    try:
        reply = libvirt_qemu.qemuAgentCommand(dom, json.dumps(command), timeout, 0)
    except libvirt.libvirtError as exc:
        raise agent_error(exc, uri) from exc
    try:
        return json.loads(reply)["return"]
    except (ValueError, KeyError, TypeError) as exc:
        raise GuestCommandFailed(f"{execute}: malformed reply {reply[:200]!r}", uri=uri) from exc


def guest_ping(uri: str, uuid: str, *, timeout: int = DEFAULT_TIMEOUT_S) -> None:
    agent_command(uri, uuid, "guest-ping", timeout=timeout)


def guest_info(uri: str, uuid: str, *, timeout: int = DEFAULT_TIMEOUT_S) -> dict:
    """The agent's version and its enabled commands."""
    return agent_command(uri, uuid, "guest-info", timeout=timeout)


def exec_request(script: str, arguments: dict, allowed: Iterable[str]) -> dict:
    """guest-exec's arguments for ``script`` (checked against ``allowed``) with ``arguments``
    as JSON on stdin. Raises InvalidConfig; nothing is sent."""
    allowed = frozenset(allowed)
    if not isinstance(script, str) or not SCRIPT_NAME.match(script):
        raise InvalidConfig(f"script name must match {SCRIPT_NAME.pattern}; got {script!r}")
    if script not in allowed:
        raise InvalidConfig(f"script {script!r} is not allowed here (allowed: {', '.join(sorted(allowed)) or 'none'})")
    if not isinstance(arguments, dict):
        raise InvalidConfig("script arguments must be a JSON object")
    try:
        data = json.dumps(arguments, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidConfig(f"script arguments are not JSON: {exc}") from exc
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidConfig(f"script arguments are {len(data)} bytes; at most {MAX_INPUT_BYTES}")
    return {
        "path": posixpath.join(SCRIPT_DIR, script),
        "arg": [],
        "input-data": base64.b64encode(data).decode(),
        "capture-output": True,
    }


def exec_result(status: dict, duration_s: float = 0.0) -> ScriptResult | None:
    """A finished guest-exec-status answer as a ScriptResult; None while it still runs."""
    if not status.get("exited"):
        return None
    stdout = base64.b64decode(status.get("out-data", "")).decode(errors="replace")
    stderr = base64.b64decode(status.get("err-data", "")).decode(errors="replace")
    try:
        output = json.loads(stdout) if stdout.strip() else None
    except ValueError:
        output = None
    return ScriptResult(
        exit_code=status.get("exitcode"),
        stdout=stdout,
        stderr=stderr,
        output=output,
        signal=status.get("signal"),
        truncated=bool(status.get("out-truncated") or status.get("err-truncated")),
        duration_s=duration_s,
    )


def run_script(
    uri: str,
    uuid: str,
    script: str,
    arguments: dict,
    *,
    allowed: Iterable[str],
    timeout: float = DEFAULT_SCRIPT_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> ScriptResult:
    """Run ``SCRIPT_DIR/script`` in the guest with ``arguments`` on stdin, wait for it and return
    its output. GuestScriptFailed when it exits non-zero; GuestAgentTimeout when it outlives
    ``timeout`` (the agent cannot kill it: the script is left to finish in the guest)."""
    request = exec_request(script, arguments, allowed)
    started = time.monotonic()
    pid = agent_command(uri, uuid, "guest-exec", request)["pid"]
    delay = 0.1
    while True:
        status = agent_command(uri, uuid, "guest-exec-status", {"pid": pid})
        result = exec_result(status, time.monotonic() - started)
        if result is not None:
            break
        if time.monotonic() - started > timeout:
            raise GuestAgentTimeout(f"script {script!r} (pid {pid}) still running after {timeout:.0f} s", uri=uri)
        sleep(delay)
        delay = min(delay * 2, 1.0)
    if result.exit_code != 0 or result.signal:
        raise GuestScriptFailed(script, result, uri=uri)
    return result


def check_read_path(path: str, allowed_prefixes: Iterable[str]) -> str:
    """``path`` when it is absolute, normalised and under one of ``allowed_prefixes``."""
    prefixes = tuple(p.rstrip("/") + "/" for p in allowed_prefixes)
    if not isinstance(path, str) or not path.startswith("/") or posixpath.normpath(path) != path or "\x00" in path:
        raise InvalidConfig(f"not an absolute, normalised path: {path!r}")
    if not prefixes or not path.startswith(prefixes):
        raise InvalidConfig(f"{path!r} is outside the readable directories ({', '.join(prefixes) or 'none'})")
    return path


def guest_file_read(
    uri: str,
    uuid: str,
    path: str,
    *,
    allowed_prefixes: Iterable[str],
    offset: int = 0,
    max_bytes: int = 64 * 1024,
    timeout: int = DEFAULT_TIMEOUT_S,
) -> FileChunk:
    """Up to ``max_bytes`` of a guest file from ``offset`` (a negative offset counts from the
    end: -65536 is the last 64 KiB, for log tails). The handle is always closed."""
    check_read_path(path, allowed_prefixes)
    if not isinstance(max_bytes, int) or not 1 <= max_bytes <= MAX_READ_BYTES:
        raise InvalidConfig(f"max_bytes must be 1..{MAX_READ_BYTES}")
    if not isinstance(offset, int):
        raise InvalidConfig("offset must be an integer")
    handle = agent_command(uri, uuid, "guest-file-open", {"path": path, "mode": "r"}, timeout=timeout)
    try:
        if offset < 0:
            # lseek(-n, SEEK_END) fails on a file shorter than n: find the size, then seek from 0.
            size = agent_command(
                uri, uuid, "guest-file-seek", {"handle": handle, "offset": 0, "whence": "end"}, timeout=timeout
            )["position"]
            offset = max(0, size + offset)
        seek = agent_command(
            uri, uuid, "guest-file-seek", {"handle": handle, "offset": offset, "whence": "set"}, timeout=timeout
        )
        read = agent_command(uri, uuid, "guest-file-read", {"handle": handle, "count": max_bytes}, timeout=timeout)
    finally:
        try:
            agent_command(uri, uuid, "guest-file-close", {"handle": handle}, timeout=timeout)
        except GuestAgentError:
            pass  # the read's own error (or result) matters more; the agent drops handles on restart
    return FileChunk(data=base64.b64decode(read.get("buf-b64", "")), offset=seek["position"], eof=bool(read["eof"]))


def guest_fsfreeze(uri: str, uuid: str, *, timeout: int = DEFAULT_TIMEOUT_S) -> int:
    """Freeze the guest's filesystems; how many. Always pair with guest_fsthaw."""
    return int(agent_command(uri, uuid, "guest-fsfreeze-freeze", timeout=timeout))


def guest_fsthaw(uri: str, uuid: str, *, timeout: int = DEFAULT_TIMEOUT_S) -> int:
    return int(agent_command(uri, uuid, "guest-fsfreeze-thaw", timeout=timeout))


def guest_fsfreeze_status(uri: str, uuid: str, *, timeout: int = DEFAULT_TIMEOUT_S) -> str:
    """'thawed' or 'frozen'."""
    return str(agent_command(uri, uuid, "guest-fsfreeze-status", timeout=timeout))


def guest_fstrim(uri: str, uuid: str, *, minimum: int = 0, timeout: int = 120) -> TrimResult:
    """Discard unused blocks of every guest filesystem (disks with discard='unmap' pass it on)."""
    answer = agent_command(uri, uuid, "guest-fstrim", {"minimum": minimum} if minimum else None, timeout=timeout)
    return TrimResult(paths=tuple((answer or {}).get("paths", ())))
