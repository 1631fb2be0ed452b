"""One pooled ovsdbapp connection per Northbound endpoint, and the only place that turns
ovsdbapp's errors into the gateway's typed errors.

Trap: ovsdbapp keeps the connection on the *class* (Backend._ovsdb_connection is set once per
class), so a second endpoint would silently reuse the first one's. Each endpoint gets its own
subclass of OvnNbApiIdlImpl."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator

from ovs import jsonrpc, stream
from ovsdbapp import exceptions as ovsdbapp_exceptions
from ovsdbapp.backend.ovs_idl import command, connection, idlutils
from ovsdbapp.schema.ovn_northbound import impl_idl
from ovsdbapp.schema.ovn_southbound import impl_idl as sb_impl_idl

from network.ovn.errors import OvnNotConfigured, OvnRowMissing, OvnTransactionFailed, OvnUnreachable

log = logging.getLogger(__name__)
SCHEMA = "OVN_Northbound"
SB_SCHEMA = "OVN_Southbound"
SB_TABLES = ("Chassis", "Service_Monitor")
# Only the columns the chassis liveness signal reads (network/ovn/liveness.py): SB_Global's other
# columns reference tables not replicated here.
SB_COLUMNS = {"SB_Global": ["nb_cfg"], "Chassis_Private": ["name", "nb_cfg"]}
RECONNECT_POLL_S = 0.05
RECONNECT_MIN_BACKOFF_MS = 100
RECONNECT_MAX_BACKOFF_MS = 1000
_pool: dict[str, impl_idl.OvnNbApiIdlImpl] = {}
_pool_lock = threading.Lock()
_class_ids = itertools.count()


def _fetch_schema(endpoint: str, timeout: float, schema: str = SCHEMA) -> dict:
    """The server's schema (as ovsdbapp's fetch_schema_json does, with typed errors)."""
    error, strm = stream.Stream.open_block(stream.Stream.open(endpoint), timeout * 1000)
    if error:
        raise OvnUnreachable(f"OVN Northbound at {endpoint} is unreachable: {os.strerror(error)}")
    rpc = jsonrpc.Connection(strm)
    try:
        error, reply = rpc.transact_block(jsonrpc.Message.create_request("get_schema", [schema]))
    finally:
        rpc.close()
    if error:
        raise OvnUnreachable(f"OVN Northbound at {endpoint} did not answer: error {error}")
    if reply.error:
        raise OvnUnreachable(f"{endpoint} does not serve {schema}: {json.dumps(reply.error)}")
    return reply.result


def _connect(endpoint: str, timeout: float, schema: str = SCHEMA, api_base=impl_idl.OvnNbApiIdlImpl):
    helper = idlutils.create_schema_helper(_fetch_schema(endpoint, timeout, schema))
    if schema == SB_SCHEMA:
        # Only what Nubes reads: a full Southbound replica (every logical flow) in each process
        # costs memory and CPU, and python-ovs' index on IP_Multicast.datapath (a reference)
        # raised in the IDL thread whenever a network's datapath went away.
        for table in SB_TABLES:
            helper.register_table(table)
        for table, columns in SB_COLUMNS.items():
            helper.register_columns(table, columns)
    else:
        helper.register_all()
    idl = connection.OvsdbIdl(endpoint, helper)
    # python-ovs backs off up to 8 s between reconnects and force_reconnect() does not cut a
    # backoff short; a restarted NB must be found again within a task's timeout.
    idl._session.reconnect.set_backoff(RECONNECT_MIN_BACKOFF_MS, RECONNECT_MAX_BACKOFF_MS)
    conn = connection.Connection(idl, timeout=timeout)
    api_class = type(f"{api_base.__name__}_{next(_class_ids)}", (api_base,), {"_ovsdb_connection": None})
    try:
        return api_class(conn)
    except ovsdbapp_exceptions.OvsdbAppException as exc:
        raise OvnUnreachable(f"{schema} at {endpoint}: {exc}") from exc


def connect_once(endpoint: str, timeout: float, schema: str, api_base):
    """An unpooled API (e.g. a host's Open_vSwitch database); stop it with close()."""
    return _connect(endpoint, timeout, schema, api_base)


def close(api) -> None:
    api.ovsdb_connection.stop(timeout=1)


def _is_connected(api) -> bool:
    # python-ovs has no public "connected" flag on the Idl; the session knows.
    return api.idl._session.is_connected() and api.idl.state == api.idl.IDL_S_MONITORING


def api_for(endpoint: str, timeout: float, schema: str = SCHEMA, api_base=impl_idl.OvnNbApiIdlImpl):
    """The pooled API for `endpoint`, connected; raises OvnUnreachable if it stays down."""
    if not endpoint:
        raise OvnNotConfigured(f"No {schema} endpoint is configured (NUBES_OVN_NB / NUBES_OVN_SB).")
    with _pool_lock:
        api = _pool.get(endpoint)
        if api is None:
            api = _pool[endpoint] = _connect(endpoint, timeout, schema, api_base)
            return api
    if not _is_connected(api):
        # After an NB restart the IDL waits out its reconnect backoff; ask it to try now. Not
        # through ovsdbapp's Connection.force_reconnect(): it also writes a wake-up byte that
        # its loop only reads with a queued transaction, so the loop then spins at 100 % CPU
        # for good. The IDL alone is woken by its reconnect timer (at most the max backoff).
        api.ovsdb_connection.idl.force_reconnect()
        deadline = time.monotonic() + timeout
        while not _is_connected(api):
            if time.monotonic() > deadline:
                raise OvnUnreachable(f"OVN Northbound at {endpoint} is unreachable (no answer in {timeout:.0f} s).")
            time.sleep(RECONNECT_POLL_S)
    return api


def close_all() -> None:
    """Tests and benchmarks: drop every pooled connection."""
    with _pool_lock:
        for api in _pool.values():
            api.ovsdb_connection.stop(timeout=1)
        _pool.clear()


@contextlib.contextmanager
def translated(endpoint: str) -> Iterator[None]:
    try:
        yield
    except idlutils.RowNotFound as exc:
        raise OvnRowMissing(str(exc)) from exc
    except ovsdbapp_exceptions.TimeoutException as exc:
        raise OvnUnreachable(f"OVSDB at {endpoint} timed out: {exc}") from exc
    except RuntimeError as exc:
        # ovsdbapp reports refused or timed-out transactions as bare RuntimeErrors.
        if "timed out" in str(exc):
            raise OvnUnreachable(f"OVSDB at {endpoint} timed out: {exc}") from exc
        raise OvnTransactionFailed(str(exc)) from exc


class _Call(command.BaseCommand):
    """Run `fn(api, txn)` inside the connection thread, so reads see one consistent replica
    and writes made through the raw IDL transaction join the same commit."""

    def __init__(self, api, fn: Callable):
        super().__init__(api)
        self.fn = fn

    def run_idl(self, txn):
        self.result = self.fn(self.api, txn)

    def post_commit(self, txn):
        # A row inserted in this transaction has a temporary uuid until the commit.
        if isinstance(self.result, uuid.UUID):
            self.result = txn.get_insert_uuid(self.result) or self.result


def execute(endpoint: str, timeout: float, build: Callable) -> object:
    """build(api) -> list of commands, run as one transaction; returns the last result."""
    api = api_for(endpoint, timeout)
    with translated(endpoint):
        commands = build(api)
        if not commands:
            return None
        with api.transaction(check_error=True, log_errors=False) as txn:
            for cmd in commands:
                txn.add(cmd)
        return commands[-1].result


def call(endpoint: str, timeout: float, fn: Callable) -> object:
    """fn(api, txn) -> result, run in one transaction in the connection thread."""
    return execute(endpoint, timeout, lambda api: [_Call(api, fn)])


def sb_read(endpoint: str, timeout: float, fn: Callable) -> object:
    """fn(api) -> result over the pooled Southbound replica (read only, in the connection thread)."""
    api = api_for(endpoint, timeout, SB_SCHEMA, sb_impl_idl.OvnSbApiIdlImpl)
    with translated(endpoint):
        cmd = _Call(api, lambda api, txn: fn(api))
        with api.transaction(check_error=True, log_errors=False) as txn:
            txn.add(cmd)
        return cmd.result
