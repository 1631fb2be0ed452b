"""Helpers on raw IDL rows of the Northbound database, for nb.py's verbs (they run inside the
connection thread, see client.call): read and assign columns, find rows by name, insert, link."""

from __future__ import annotations

import uuid as uuidlib

from network.ovn import client
from network.ovn.specs import Endpoint


def item(value):
    return str(value.uuid) if hasattr(value, "uuid") else str(value) if isinstance(value, uuidlib.UUID) else value


def norm(value):
    if isinstance(value, dict):
        return {str(k): str(item(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(sorted((item(v) for v in value), key=str))
    return value


def assign(row, columns: dict) -> bool:
    """Set the columns that differ; True when anything changed.

    Every column read from an existing row is verified: if our replica lags a change made
    behind our back (or the row is gone), the server answers TRY_AGAIN and the transaction is
    retried on a fresh replica, instead of deciding from stale data."""
    changed = False
    committed = row.uuid in row._table.rows
    for column, want in columns.items():
        if committed:
            row.verify(column)
        if norm(get(row, column)) != norm(want):
            setattr(row, column, want)
            changed = True
    return changed


def get(row, column):
    # A row inserted in this transaction raises AttributeError for columns not yet set.
    return getattr(row, column, ())


def by_name(api, table: str, name: str):
    for row in api.tables[table].rows.values():
        if row.name == name:
            return row
    return None


def index_by_name(api, table: str) -> dict:
    return {row.name: row for row in api.tables[table].rows.values()}


def insert(txn, api, table: str, **columns):
    row = txn.insert(api.tables[table])
    for column, value in columns.items():
        setattr(row, column, value)
    return row


def link(parent, column: str, child, wanted: bool) -> int:
    """Add or remove one reference in a set column; 1 when it changed."""
    linked = any(item.uuid == child.uuid for item in get(parent, column))
    if wanted and not linked:
        if parent.uuid in parent._table.rows:
            parent.verify(column)
        parent.addvalue(column, child)
    elif linked and not wanted:
        parent.delvalue(column, child)
    else:
        return 0
    return 1


def optional(value) -> list:
    return [] if value is None else [value]


def call(nb: Endpoint, fn):
    return client.call(nb.address, nb.timeout, fn)
