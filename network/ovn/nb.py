"""Verbs on the OVN Northbound database: make rows look like a spec, delete them, read state.

Each `*_ensure` verb reads the replica and writes only what differs, in one transaction, and
returns how many rows it created or changed: the same call realises a new object and repairs
one edited or deleted behind our back. Rows are matched by name (or, for DHCP_Options, by our
marker), never by anything a stranger could share."""

from __future__ import annotations

import uuid as uuidlib

from network.ovn import client
from network.ovn.errors import OvnRowMissing
from network.ovn.specs import (
    ID_KEY,
    KIND_KEY,
    PROJECT_KEY,
    DhcpSpec,
    Endpoint,
    LoadBalancerSpec,
    OwnedRow,
    PortGroupSpec,
    PortSpec,
    RouterSpec,
    SwitchSpec,
    is_ours,
)

LS, LSP, LR, LRP = "Logical_Switch", "Logical_Switch_Port", "Logical_Router", "Logical_Router_Port"
PG, ACL, DHCP, LB = "Port_Group", "ACL", "DHCP_Options", "Load_Balancer"
NAT, ROUTE, HC, GWC = "NAT", "Logical_Router_Static_Route", "Load_Balancer_Health_Check", "Gateway_Chassis"
# Tables whose rows the sync checks for our marker to report orphans.
OWNED_TABLES = (LS, LSP, DHCP, PG, LR, LRP, LB)


# --- helpers on raw IDL rows (run inside the connection thread, see client.call) ----------


def _item(value):
    return str(value.uuid) if hasattr(value, "uuid") else str(value) if isinstance(value, uuidlib.UUID) else value


def _norm(value):
    if isinstance(value, dict):
        return {str(k): str(_item(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(sorted((_item(v) for v in value), key=str))
    return value


def _assign(row, columns: dict) -> bool:
    """Set the columns that differ; True when anything changed.

    Every column read from an existing row is verified: if our replica lags a change made
    behind our back (or the row is gone), the server answers TRY_AGAIN and the transaction is
    retried on a fresh replica, instead of deciding from stale data."""
    changed = False
    committed = row.uuid in row._table.rows
    for column, want in columns.items():
        if committed:
            row.verify(column)
        if _norm(_get(row, column)) != _norm(want):
            setattr(row, column, want)
            changed = True
    return changed


def _get(row, column):
    # A row inserted in this transaction raises AttributeError for columns not yet set.
    return getattr(row, column, ())


def _by_name(api, table: str, name: str):
    for row in api.tables[table].rows.values():
        if row.name == name:
            return row
    return None


def _index_by_name(api, table: str) -> dict:
    return {row.name: row for row in api.tables[table].rows.values()}


def _dhcp_by_key(api) -> dict:
    return {row.external_ids.get(ID_KEY): row for row in api.tables[DHCP].rows.values() if is_ours(row.external_ids)}


def _insert(txn, api, table: str, **columns):
    row = txn.insert(api.tables[table])
    for column, value in columns.items():
        setattr(row, column, value)
    return row


def _link(parent, column: str, child, wanted: bool) -> int:
    """Add or remove one reference in a set column; 1 when it changed."""
    linked = any(item.uuid == child.uuid for item in _get(parent, column))
    if wanted and not linked:
        if parent.uuid in parent._table.rows:
            parent.verify(column)
        parent.addvalue(column, child)
    elif linked and not wanted:
        parent.delvalue(column, child)
    else:
        return 0
    return 1


def _optional(value) -> list:
    return [] if value is None else [value]


def _call(nb: Endpoint, fn):
    return client.call(nb.address, nb.timeout, fn)


def ping(nb: Endpoint) -> int:
    """Number of logical switches; raises OvnUnreachable when the database does not answer."""
    return _call(nb, lambda api, txn: len(api.tables[LS].rows))


# --- logical switches, DHCP options, switch ports -----------------------------------------


def switch_ensure(nb: Endpoint, spec: SwitchSpec) -> int:
    return _call(nb, lambda api, txn: _ensure_switch_row(api, txn, spec)[1])


TUNNEL_KEY_OPTION = "requested-tnl-key"


def switch_tunnel_keys(nb: Endpoint) -> dict[str, int]:
    """{switch name: requested tunnel key} of every logical switch that asks for one, ours or
    not: another portal (or test session) on the same Northbound allocates from the same space."""

    def fn(api, txn):
        keys = {}
        for row in api.tables[LS].rows.values():
            value = row.other_config.get(TUNNEL_KEY_OPTION, "")
            if value.isdigit():
                keys[row.name] = int(value)
        return keys

    return _call(nb, fn)


def switch_delete(nb: Endpoint, name: str) -> None:
    """Delete the switch and its ports (children go with it)."""
    client.execute(nb.address, nb.timeout, lambda api: [api.ls_del(name, if_exists=True)])


def dhcp_options_ensure(nb: Endpoint, spec: DhcpSpec) -> str:
    """Make the subnet's DHCP_Options row and commit it; returns its uuid. Ports reference it
    by key in a later transaction (a reference to a row made in the same ovsdbapp transaction
    is silently dropped, see REALITY.md)."""

    external_ids = {**spec.external_ids, ID_KEY: spec.key}  # the key is the row's identity

    def fn(api, txn):
        row = _dhcp_by_key(api).get(spec.key)
        if row is None:
            row = _insert(txn, api, DHCP, cidr=spec.cidr, options=spec.options, external_ids=external_ids)
        else:
            _assign(row, {"cidr": spec.cidr, "options": spec.options, "external_ids": external_ids})
        return row.uuid

    return str(_call(nb, fn))


def dhcp_options_delete(nb: Endpoint, key: str) -> None:
    def fn(api, txn):
        row = _dhcp_by_key(api).get(key)
        if row is not None:
            row.delete()

    _call(nb, fn)


def _port_columns(spec: PortSpec, dhcp: dict) -> dict:
    columns = {
        "addresses": list(spec.addresses),
        "port_security": list(spec.port_security),
        "type": spec.type,
        "options": spec.options,
        "enabled": [spec.enabled],
        "external_ids": spec.external_ids,
        "tag": _optional(spec.tag),
    }
    for column, key in (("dhcpv4_options", spec.dhcpv4_key), ("dhcpv6_options", spec.dhcpv6_key)):
        if key is None:
            columns[column] = []
            continue
        row = dhcp.get(key)
        if row is None:
            raise OvnRowMissing(f"DHCP options {key} are not in the Northbound database; realise the subnet first.")
        columns[column] = [row]
    return columns


def _ensure_switch_row(api, txn, spec: SwitchSpec):
    row = _by_name(api, LS, spec.name)
    if row is None:
        return _insert(txn, api, LS, name=spec.name, external_ids=spec.external_ids, other_config=spec.other_config), 1
    return row, int(_assign(row, {"external_ids": spec.external_ids, "other_config": spec.other_config}))


def ports_ensure(nb: Endpoint, switch: str | SwitchSpec, specs: list[PortSpec]) -> int:
    """Make the switch's ports match `specs` (ports not listed are left alone). Given a
    SwitchSpec, the switch itself is ensured in the same transaction."""

    def fn(api, txn):
        changed = 0
        if isinstance(switch, SwitchSpec):
            ls, changed = _ensure_switch_row(api, txn, switch)
        else:
            ls = _by_name(api, LS, switch)
            if ls is None:
                raise OvnRowMissing(f"Logical switch {switch} is not in the Northbound database.")
        # Our replica may lag a change made behind our back: verified reads make the server
        # answer TRY_AGAIN instead of applying a write to rows that are gone.
        if ls.uuid in api.tables[LS].rows:
            ls.verify("ports")
        dhcp = _dhcp_by_key(api)
        ports = _index_by_name(api, LSP)
        members = {row.uuid for row in _get(ls, "ports")}
        for spec in specs:
            columns = _port_columns(spec, dhcp)
            for column in ("dhcpv4_options", "dhcpv6_options"):
                for row in columns[column]:
                    row.verify("cidr")
            row = ports.get(spec.name)
            if row is None:
                row = _insert(txn, api, LSP, name=spec.name, **columns)
                ls.addvalue("ports", row)
                changed += 1
                continue
            if row.uuid not in members:
                ls.addvalue("ports", row)
            changed += int(_assign(row, columns))
        return changed

    return _call(nb, fn)


def port_delete(nb: Endpoint, name: str) -> None:
    client.execute(nb.address, nb.timeout, lambda api: [api.lsp_del(name, if_exists=True)])


def port_options_update(nb: Endpoint, name: str, options: dict[str, str], remove: tuple[str, ...] = ()) -> int:
    """Set ``options`` and drop the ``remove`` keys in a switch port's options, the others kept;
    1 when anything changed. OvnRowMissing when there is no such port."""

    def fn(api, txn):
        port = _by_name(api, LSP, name)
        if port is None:
            raise OvnRowMissing(f"Logical switch port {name} is not in the Northbound database.")
        wanted = {**dict(port.options), **options}
        for key in remove:
            wanted.pop(key, None)
        return int(_assign(port, {"options": wanted}))

    return _call(nb, fn)


def port_states(nb: Endpoint, names: list[str]) -> dict[str, bool | None]:
    """{port name: up?}; None when OVN has not said (no chassis claimed it yet) or no row."""

    def fn(api, txn):
        ports = _index_by_name(api, LSP)
        return {name: (ports[name].up[0] if name in ports and ports[name].up else None) for name in names}

    return _call(nb, fn)


# --- port groups and ACLs (security groups) -------------------------------------------------


def port_group_ensure(nb: Endpoint, spec: PortGroupSpec) -> int:
    """Make the group's ACLs (and members, unless spec.ports is None) match the spec.
    Members are set by their rows (a list of names would add nothing, see REALITY.md)."""

    def fn(api, txn):
        row = _by_name(api, PG, spec.name)
        changed = 0
        if row is None:
            row = _insert(txn, api, PG, name=spec.name, external_ids=spec.external_ids)
            changed += 1
        else:
            row.verify("acls")
            changed += int(_assign(row, {"external_ids": spec.external_ids}))
        if spec.ports is not None:
            ports = _index_by_name(api, LSP)
            changed += int(_assign(row, {"ports": [ports[name] for name in spec.ports if name in ports]}))
        have = {(acl.direction, acl.priority, acl.match, acl.action): acl for acl in _get(row, "acls")}
        want = {acl.identity: acl for acl in spec.acls}
        for identity, acl in have.items():
            if identity not in want:
                row.delvalue("acls", acl)
                changed += 1
            else:
                changed += int(_assign(acl, {"external_ids": want[identity].external_ids}))
        for identity, acl in want.items():
            if identity not in have:
                new = _insert(
                    txn,
                    api,
                    ACL,
                    direction=acl.direction,
                    priority=acl.priority,
                    match=acl.match,
                    action=acl.action,
                    external_ids=acl.external_ids,
                )
                row.addvalue("acls", new)
                changed += 1
        return changed

    return _call(nb, fn)


def port_memberships_ensure(nb: Endpoint, port: str, groups: set[str]) -> int:
    """Put one port in exactly `groups` among the port groups we own (others untouched)."""

    def fn(api, txn):
        lsp = _by_name(api, LSP, port)
        if lsp is None:
            raise OvnRowMissing(f"Logical switch port {port} is not in the Northbound database.")
        changed = 0
        for pg in api.tables[PG].rows.values():
            if not is_ours(pg.external_ids):
                continue
            changed += _link(pg, "ports", lsp, pg.name in groups)
        return changed

    return _call(nb, fn)


def port_group_delete(nb: Endpoint, name: str) -> None:
    client.execute(nb.address, nb.timeout, lambda api: [api.pg_del(name, if_exists=True)])


# --- logical routers ------------------------------------------------------------------------


def _ensure_router_ports(api, txn, router, spec: RouterSpec) -> int:
    changed = 0
    existing = {port.name: port for port in _get(router, "ports")}
    wanted = {port.name for port in spec.ports}
    for name, port in existing.items():
        if name not in wanted and is_ours(port.external_ids):
            router.delvalue("ports", port)
            changed += 1
    for port_spec in spec.ports:
        columns = {
            "mac": port_spec.mac,
            "networks": list(port_spec.networks),
            "external_ids": port_spec.external_ids,
            "ipv6_ra_configs": port_spec.ipv6_ra_configs,
        }
        port = existing.get(port_spec.name)
        if port is None:
            port = _insert(txn, api, LRP, name=port_spec.name, **columns)
            router.addvalue("ports", port)
            changed += 1
        else:
            changed += int(_assign(port, columns))
        have = {(gwc.chassis_name, gwc.priority) for gwc in _get(port, "gateway_chassis")}
        count = len(port_spec.gateway_chassis)
        want = {(chassis, count - index) for index, chassis in enumerate(port_spec.gateway_chassis)}
        if have != want:
            port.gateway_chassis = [
                _insert(txn, api, GWC, name=f"{port_spec.name}_{chassis}", chassis_name=chassis, priority=priority)
                for chassis, priority in sorted(want)
            ]
            changed += 1
    return changed


def _ensure_router_children(api, txn, router, spec: RouterSpec) -> int:
    changed = 0
    routes = {(route.ip_prefix, route.nexthop): route for route in _get(router, "static_routes")}
    wanted_routes = {(route.prefix, route.nexthop) for route in spec.routes}
    for key, route in routes.items():
        if key not in wanted_routes:
            router.delvalue("static_routes", route)
            changed += 1
    for prefix, nexthop in wanted_routes - set(routes):
        router.addvalue("static_routes", _insert(txn, api, ROUTE, ip_prefix=prefix, nexthop=nexthop))
        changed += 1
    nats = {(nat.type, nat.external_ip, nat.logical_ip): nat for nat in _get(router, "nat")}
    wanted_nats = {nat.identity: nat for nat in spec.nats}
    for key, nat in nats.items():
        if key not in wanted_nats:
            router.delvalue("nat", nat)
            changed += 1
    for key, nat_spec in wanted_nats.items():
        columns = {
            "logical_port": _optional(nat_spec.logical_port),
            "external_mac": _optional(nat_spec.external_mac),
            "external_ids": nat_spec.external_ids,
        }
        nat = nats.get(key)
        if nat is None:
            router.addvalue(
                "nat",
                _insert(
                    txn,
                    api,
                    NAT,
                    type=nat_spec.type,
                    external_ip=nat_spec.external_ip,
                    logical_ip=nat_spec.logical_ip,
                    **columns,
                ),
            )
            changed += 1
        else:
            changed += int(_assign(nat, columns))
    return changed


def router_ensure(nb: Endpoint, spec: RouterSpec) -> int:
    """Make the router, its ports, static routes and NAT rules match the spec."""

    def fn(api, txn):
        router = _by_name(api, LR, spec.name)
        changed = 0
        if router is None:
            router = _insert(txn, api, LR, name=spec.name, external_ids=spec.external_ids)
            changed += 1
        else:
            for column in ("ports", "static_routes", "nat"):
                router.verify(column)
            changed += int(_assign(router, {"external_ids": spec.external_ids}))
        changed += _ensure_router_ports(api, txn, router, spec)
        return changed + _ensure_router_children(api, txn, router, spec)

    return _call(nb, fn)


def router_delete(nb: Endpoint, name: str) -> None:
    client.execute(nb.address, nb.timeout, lambda api: [api.lr_del(name, if_exists=True)])


# --- load balancers -------------------------------------------------------------------------


def load_balancer_ensure(nb: Endpoint, spec: LoadBalancerSpec) -> int:
    """Make the LB (VIPs, health checks, member mappings) and its switch/router links match."""

    def fn(api, txn):
        lb = _by_name(api, LB, spec.name)
        columns = {
            "vips": spec.vips,
            "protocol": [spec.protocol],
            "ip_port_mappings": spec.ip_port_mappings,
            "external_ids": spec.external_ids,
        }
        changed = 0
        if lb is None:
            lb = _insert(txn, api, LB, name=spec.name, **columns)
            changed += 1
        else:
            changed += int(_assign(lb, columns))
        have = {(hc.vip, tuple(sorted(hc.options.items()))) for hc in _get(lb, "health_check")}
        want = {(hc.vip, tuple(sorted((k, str(v)) for k, v in hc.options.items()))) for hc in spec.health_checks}
        if have != want:
            lb.health_check = [_insert(txn, api, HC, vip=vip, options=dict(options)) for vip, options in sorted(want)]
            changed += 1
        for table, wanted in ((LS, set(spec.switches)), (LR, set(spec.routers))):
            for parent in api.tables[table].rows.values():
                if parent.name in wanted or is_ours(parent.external_ids):
                    changed += _link(parent, "load_balancer", lb, parent.name in wanted)
        return changed

    return _call(nb, fn)


def load_balancer_delete(nb: Endpoint, name: str) -> None:
    client.execute(nb.address, nb.timeout, lambda api: [api.lb_del(name, if_exists=True)])


# --- what we own ----------------------------------------------------------------------------


def owned_rows(nb: Endpoint) -> list[OwnedRow]:
    """Every row in OWNED_TABLES that carries our marker."""

    def fn(api, txn):
        found = []
        for table in OWNED_TABLES:
            for row in api.tables[table].rows.values():
                ids = row.external_ids
                if is_ours(ids):
                    found.append(
                        OwnedRow(
                            table,
                            str(row.uuid),
                            getattr(row, "name", "") or "",
                            ids.get(KIND_KEY, ""),
                            ids.get(ID_KEY, ""),
                            ids.get(PROJECT_KEY, ""),
                        )
                    )
        return found

    return _call(nb, fn)


def owned_row_delete(nb: Endpoint, table: str, row_uuid: str) -> bool:
    """Delete one row we made (refused for rows without our marker); False if already gone."""

    def fn(api, txn):
        row = api.tables[table].rows.get(uuidlib.UUID(row_uuid))
        if row is None or not is_ours(row.external_ids):
            return False
        parents = {LSP: (LS, "ports"), LRP: (LR, "ports")}
        if table in parents:
            parent_table, column = parents[table]
            for parent in api.tables[parent_table].rows.values():
                if any(child.uuid == row.uuid for child in getattr(parent, column)):
                    parent.delvalue(column, row)
        row.delete()
        return True

    return bool(_call(nb, fn))
