"""A private OVN Northbound ovsdb-server in a directory, for tests, benchmarks and the embedded
default (network/embedded.py): the real database server with the real schema, no ovn-northd,
stopped by its own PID only."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

NB_SCHEMA = Path("/usr/share/ovn/ovn-nb.ovsschema")
SB_SCHEMA = Path("/usr/share/ovn/ovn-sb.ovsschema")
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
POLL_S = 0.02
PR_SET_PDEATHSIG = 1
try:  # resolved here, not in the forked child (no import or dlopen between fork and exec)
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


class ServerUnavailable(Exception):
    """ovsdb-server, ovsdb-tool or the OVN NB schema is missing on this machine."""


def missing_tools() -> str | None:
    """Why a local NB server cannot run here, or None when it can."""
    for tool in ("ovsdb-server", "ovsdb-tool"):
        if not _which(tool):
            return f"{tool} is not installed (apt-get install -y openvswitch-switch)"
    for schema in (NB_SCHEMA, SB_SCHEMA):
        if not schema.exists():
            return f"{schema} is missing (apt-get install -y ovn-central)"
    return None


def _which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin")


class NbServer:
    """ovsdb-server serving an OVN_Northbound database on a unix socket in `directory` (created
    from the schema the first time, kept after). parent_death: the server gets SIGTERM when the
    thread that started it ends, even by SIGKILL (Linux), so a crashed portal leaves none behind."""

    SCHEMA_FILE, DB_NAME, PREFIX = NB_SCHEMA, "OVN_Northbound", "nb"

    def __init__(self, directory: Path, *, parent_death: bool = False):
        self.directory = Path(directory)
        self.parent_death = parent_death
        self.db = self.directory / f"ovn{self.PREFIX}.db"
        self.socket = self.directory / f"{self.PREFIX}.sock"
        self.pidfile = self.directory / f"{self.PREFIX}.pid"
        self.log = self.directory / f"{self.PREFIX}.log"
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"unix:{self.socket}"

    def create(self) -> None:
        reason = missing_tools()
        if reason:
            raise ServerUnavailable(reason)
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.db.exists():
            subprocess.run(
                [_which("ovsdb-tool"), "create", str(self.db), str(self.SCHEMA_FILE)], check=True, capture_output=True
            )

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        if not self.db.exists():
            self.create()
        self.end_stale()
        self.socket.unlink(missing_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    _which("ovsdb-server"),
                    str(self.db),
                    f"--remote=punix:{self.socket}",
                    f"--pidfile={self.pidfile}",
                    f"--unixctl={self.directory / (self.PREFIX + '.ctl')}",
                    "--no-chdir",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if self.parent_death and _prctl else None,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.socket.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise ServerUnavailable(f"ovsdb-server did not start; see {self.log}")
            time.sleep(POLL_S)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def end_stale(self) -> int | None:
        """A server of an earlier run on this very database file (its pidfile names a live
        ovsdb-server whose command line holds our database path: a run that was killed before
        it could stop it) holds the file's lock; end it by that PID. Returns the PID ended."""
        try:
            pid = int(self.pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            self.pidfile.unlink(missing_ok=True)
            return None
        if not cmdline[0].endswith(b"ovsdb-server") or str(self.db).encode() not in cmdline:
            self.pidfile.unlink(missing_ok=True)  # the PID was reused by another process: not ours
            return None
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(POLL_S)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)
        return pid

    def stop(self) -> None:
        """Stop the server we started, by its PID."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT_S)

    def transact(self, *operations: dict) -> list:
        """Run raw OVSDB operations with ovsdb-client (a client that is not Nubes)."""
        request = json.dumps([self.DB_NAME, *operations])
        out = subprocess.run(
            [_which("ovsdb-client"), "transact", self.endpoint, request], check=True, capture_output=True, text=True
        ).stdout
        return json.loads(out)

    def rows(self, table: str, **where) -> list[dict]:
        """Rows of `table` as plain JSON (columns in OVSDB's wire format), read independently."""
        conditions = [[column, "==", value] for column, value in where.items()]
        return self.transact({"op": "select", "table": table, "where": conditions})[0]["rows"]

    def clear(self) -> None:
        """Delete every root row (children go with them), leaving NB_Global alone."""
        schema = json.loads(self.SCHEMA_FILE.read_text())
        roots = [
            name
            for name, table in schema["tables"].items()
            if table.get("isRoot") and name not in ("NB_Global", "SB_Global")
        ]
        self.transact(*({"op": "delete", "table": name, "where": []} for name in roots))


def _die_with_parent() -> None:
    """In the forked child, before exec: SIGTERM when the parent (thread) dies."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class SbServer(NbServer):
    """The same for an OVN_Southbound database (tests write Service_Monitor rows into it, as
    ovn-controller would)."""

    SCHEMA_FILE, DB_NAME, PREFIX = SB_SCHEMA, "OVN_Southbound", "sb"
