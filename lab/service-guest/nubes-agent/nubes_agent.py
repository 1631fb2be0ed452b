"""Shared by the scripts the portal runs in this guest through the QEMU guest agent.

Each script reads one JSON object on stdin (the portal validated it against the template's
argument schema; the script checks again), prints one JSON object on stdout and exits 0, or
prints {"error": "..."} and exits 1 (2 for bad arguments). SQL goes to psql on its stdin with
every identifier and literal quoted here: nothing from the arguments reaches a shell.
"""

import json
import os
import re
import subprocess
import sys

NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
RESERVED = {"postgres", "template0", "template1", "public"}


class BadArguments(Exception):
    pass


def arguments() -> dict:
    raw = sys.stdin.read()
    try:
        args = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise BadArguments(f"stdin is not JSON: {exc}") from exc
    if not isinstance(args, dict):
        raise BadArguments("stdin must be a JSON object")
    return args


def name(args: dict, key: str = "name") -> str:
    value = args.get(key)
    if not isinstance(value, str) or not NAME.match(value) or value in RESERVED:
        raise BadArguments(f"{key} must match {NAME.pattern} and not be reserved; got {value!r}")
    return value


def password(args: dict) -> str:
    value = args.get("password")
    if not isinstance(value, str) or not 8 <= len(value) <= 128:
        raise BadArguments("password must be a string of 8-128 characters")
    return value


def ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def literal(value: str) -> str:
    # standard_conforming_strings is on (the default since 9.1): doubling quotes is enough.
    if "\x00" in value:
        raise BadArguments("a NUL byte cannot be stored")
    return "'" + value.replace("'", "''") + "'"


def psql(sql: str, database: str = "postgres") -> str:
    """Run ``sql`` as the postgres superuser; the output of its last statement, unaligned."""
    done = subprocess.run(
        ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database],
        input=sql,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip() or f"psql exited {done.returncode}")
    return done.stdout.strip()


def main(action) -> None:
    try:
        result = action(arguments())
    except BadArguments as exc:
        print(json.dumps({"error": str(exc)}))
        sys.exit(2)
    except Exception as exc:  # the portal shows the message; the exit code says it failed
        print(json.dumps({"error": str(exc)}))
        sys.exit(1)
    print(json.dumps(result))


def run(*argv, timeout=600) -> str:
    """Run a command (never through a shell); its stdout, or RuntimeError with its stderr."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def fs_tag(device: str, tag: str) -> str:
    """blkid's TYPE or LABEL of ``device`` ('' when it holds no filesystem)."""
    done = subprocess.run(["blkid", "-o", "value", "-s", tag, device], capture_output=True, text=True)
    return done.stdout.strip()


def extra_disks() -> list:
    """The guest's virtio disks besides its root, as /dev paths."""
    root = os.path.basename(run("findmnt", "-n", "-o", "SOURCE", "/")).rstrip("0123456789")
    return [f"/dev/{d}" for d in sorted(os.listdir("/sys/block")) if d.startswith("vd") and d != root]


def database_names() -> list:
    """The server's databases, templates and postgres aside."""
    rows = psql("SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres' ORDER BY 1;")
    return [row for row in rows.splitlines() if row]


# Configuration parameters a tenant may set (config-set), with the unit the portal's form uses:
# name -> (type, unit, minimum, maximum). Memory in MB, times in ms; the portal's template holds
# the same list as its argument schema and checks it first, this is checked again here.
PARAMETERS = {
    "max_connections": ("integer", "", 10, 1000),
    "shared_buffers": ("integer", "MB", 16, 8192),
    "work_mem": ("integer", "MB", 1, 2048),
    "maintenance_work_mem": ("integer", "MB", 1, 4096),
    "effective_cache_size": ("integer", "MB", 8, 65536),
    "log_min_duration_statement": ("integer", "ms", -1, 3600000),
    "statement_timeout": ("integer", "ms", 0, 86400000),
    "idle_in_transaction_session_timeout": ("integer", "ms", 0, 86400000),
    "random_page_cost": ("number", "", 0.1, 100),
    "log_connections": ("boolean", "", None, None),
}
# pg_settings.unit -> how many of the form's unit (MB or ms) one of it is.
BASE_UNITS = {"8kB": 8 / 1024, "kB": 1 / 1024, "MB": 1, "ms": 1, "s": 1000, "min": 60000}


def settings(names) -> list:
    """pg_settings rows of ``names``: name, setting, unit, context, source, pending_restart, and
    value (what SHOW prints)."""
    quoted = ", ".join(literal(n) for n in names)
    rows = psql(
        "SELECT coalesce(json_agg(json_build_object('name', name, 'setting', setting, 'unit', unit,"
        " 'context', context, 'source', source, 'pending_restart', pending_restart,"
        " 'value', current_setting(name)) ORDER BY name), '[]') FROM pg_settings"
        f" WHERE name IN ({quoted});"
    )
    return json.loads(rows)
