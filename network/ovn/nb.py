"""Verbs on the OVN Northbound database: make rows look like a spec, delete them, read state.

Each `*_ensure` verb reads the replica and writes only what differs, in one transaction, and
returns how many rows it created or changed: the same call realises a new object and repairs
one edited or deleted behind our back. Rows are matched by name (or, for DHCP_Options, by our
marker), never by anything a stranger could share."""

from __future__ import annotations

import uuid as uuidlib

from network.ovn import client, rows
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


def _dhcp_by_key(api) -> dict:
    return {row.external_ids.get(ID_KEY): row for row in api.tables[DHCP].rows.values() if is_ours(row.external_ids)}


def ping(nb: Endpoint) -> int:
    """Number of logical switches; raises OvnUnreachable when the database does not answer."""
    return rows.call(nb, lambda api, txn: len(api.tables[LS].rows))


# --- logical switches, DHCP options, switch ports -----------------------------------------


def switch_ensure(nb: Endpoint, spec: SwitchSpec) -> int:
    return rows.call(nb, lambda api, txn: _ensure_switch_row(api, txn, spec)[1])


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

    return rows.call(nb, fn)


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
            row = rows.insert(txn, api, DHCP, cidr=spec.cidr, options=spec.options, external_ids=external_ids)
        else:
            rows.assign(row, {"cidr": spec.cidr, "options": spec.options, "external_ids": external_ids})
        return row.uuid

    return str(rows.call(nb, fn))


def dhcp_options_delete(nb: Endpoint, key: str) -> None:
    def fn(api, txn):
        row = _dhcp_by_key(api).get(key)
        if row is not None:
            row.delete()

    rows.call(nb, fn)


def _port_columns(spec: PortSpec, dhcp: dict) -> dict:
    columns = {
        "addresses": list(spec.addresses),
        "port_security": list(spec.port_security),
        "type": spec.type,
        "options": spec.options,
        "enabled": [spec.enabled],
        "external_ids": spec.external_ids,
        "tag": rows.optional(spec.tag),
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
    row = rows.by_name(api, LS, spec.name)
    if row is None:
        return rows.insert(
            txn, api, LS, name=spec.name, external_ids=spec.external_ids, other_config=spec.other_config
        ), 1
    return row, int(rows.assign(row, {"external_ids": spec.external_ids, "other_config": spec.other_config}))


def ports_ensure(nb: Endpoint, switch: str | SwitchSpec, specs: list[PortSpec]) -> int:
    """Make the switch's ports match `specs` (ports not listed are left alone). Given a
    SwitchSpec, the switch itself is ensured in the same transaction."""

    def fn(api, txn):
        changed = 0
        if isinstance(switch, SwitchSpec):
            ls, changed = _ensure_switch_row(api, txn, switch)
        else:
            ls = rows.by_name(api, LS, switch)
            if ls is None:
                raise OvnRowMissing(f"Logical switch {switch} is not in the Northbound database.")
        # Our replica may lag a change made behind our back: verified reads make the server
        # answer TRY_AGAIN instead of applying a write to rows that are gone.
        if ls.uuid in api.tables[LS].rows:
            ls.verify("ports")
        dhcp = _dhcp_by_key(api)
        ports = rows.index_by_name(api, LSP)
        members = {row.uuid for row in rows.get(ls, "ports")}
        for spec in specs:
            columns = _port_columns(spec, dhcp)
            for column in ("dhcpv4_options", "dhcpv6_options"):
                for row in columns[column]:
                    row.verify("cidr")
            row = ports.get(spec.name)
            if row is None:
                row = rows.insert(txn, api, LSP, name=spec.name, **columns)
                ls.addvalue("ports", row)
                changed += 1
                continue
            if row.uuid not in members:
                ls.addvalue("ports", row)
            changed += int(rows.assign(row, columns))
        return changed

    return rows.call(nb, fn)


def port_delete(nb: Endpoint, name: str) -> None:
    client.execute(nb.address, nb.timeout, lambda api: [api.lsp_del(name, if_exists=True)])


def port_options_update(nb: Endpoint, name: str, options: dict[str, str], remove: tuple[str, ...] = ()) -> int:
    """Set ``options`` and drop the ``remove`` keys in a switch port's options, the others kept;
    1 when anything changed. OvnRowMissing when there is no such port."""

    def fn(api, txn):
        port = rows.by_name(api, LSP, name)
        if port is None:
            raise OvnRowMissing(f"Logical switch port {name} is not in the Northbound database.")
        wanted = {**dict(port.options), **options}
        for key in remove:
            wanted.pop(key, None)
        return int(rows.assign(port, {"options": wanted}))

    return rows.call(nb, fn)


def port_states(nb: Endpoint, names: list[str]) -> dict[str, bool | None]:
    """{port name: up?}; None when OVN has not said (no chassis claimed it yet) or no row."""

    def fn(api, txn):
        ports = rows.index_by_name(api, LSP)
        return {name: (ports[name].up[0] if name in ports and ports[name].up else None) for name in names}

    return rows.call(nb, fn)


# --- port groups and ACLs (security groups) -------------------------------------------------


def port_group_ensure(nb: Endpoint, spec: PortGroupSpec) -> int:
    """Make the group's ACLs (and members, unless spec.ports is None) match the spec.
    Members are set by their rows (a list of names would add nothing, see REALITY.md)."""

    def fn(api, txn):
        row = rows.by_name(api, PG, spec.name)
        changed = 0
        if row is None:
            row = rows.insert(txn, api, PG, name=spec.name, external_ids=spec.external_ids)
            changed += 1
        else:
            row.verify("acls")
            changed += int(rows.assign(row, {"external_ids": spec.external_ids}))
        if spec.ports is not None:
            ports = rows.index_by_name(api, LSP)
            changed += int(rows.assign(row, {"ports": [ports[name] for name in spec.ports if name in ports]}))
        have = {(acl.direction, acl.priority, acl.match, acl.action): acl for acl in rows.get(row, "acls")}
        want = {acl.identity: acl for acl in spec.acls}
        for identity, acl in have.items():
            if identity not in want:
                row.delvalue("acls", acl)
                changed += 1
            else:
                changed += int(rows.assign(acl, {"external_ids": want[identity].external_ids}))
        for identity, acl in want.items():
            if identity not in have:
                new = rows.insert(
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

    return rows.call(nb, fn)


def port_memberships_ensure(nb: Endpoint, port: str, groups: set[str]) -> int:
    """Put one port in exactly `groups` among the port groups we own (others untouched)."""

    def fn(api, txn):
        lsp = rows.by_name(api, LSP, port)
        if lsp is None:
            raise OvnRowMissing(f"Logical switch port {port} is not in the Northbound database.")
        changed = 0
        for pg in api.tables[PG].rows.values():
            if not is_ours(pg.external_ids):
                continue
            changed += rows.link(pg, "ports", lsp, pg.name in groups)
        return changed

    return rows.call(nb, fn)


def port_group_delete(nb: Endpoint, name: str) -> None:
    client.execute(nb.address, nb.timeout, lambda api: [api.pg_del(name, if_exists=True)])


# --- logical routers ------------------------------------------------------------------------


def _ensure_router_ports(api, txn, router, spec: RouterSpec) -> int:
    changed = 0
    existing = {port.name: port for port in rows.get(router, "ports")}
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
            port = rows.insert(txn, api, LRP, name=port_spec.name, **columns)
            router.addvalue("ports", port)
            changed += 1
        else:
            changed += int(rows.assign(port, columns))
        have = {(gwc.chassis_name, gwc.priority) for gwc in rows.get(port, "gateway_chassis")}
        count = len(port_spec.gateway_chassis)
        want = {(chassis, count - index) for index, chassis in enumerate(port_spec.gateway_chassis)}
        if have != want:
            port.gateway_chassis = [
                rows.insert(txn, api, GWC, name=f"{port_spec.name}_{chassis}", chassis_name=chassis, priority=priority)
                for chassis, priority in sorted(want)
            ]
            changed += 1
    return changed


def _ensure_router_children(api, txn, router, spec: RouterSpec) -> int:
    changed = 0
    routes = {(route.ip_prefix, route.nexthop): route for route in rows.get(router, "static_routes")}
    wanted_routes = {(route.prefix, route.nexthop) for route in spec.routes}
    for key, route in routes.items():
        if key not in wanted_routes:
            router.delvalue("static_routes", route)
            changed += 1
    for prefix, nexthop in wanted_routes - set(routes):
        router.addvalue("static_routes", rows.insert(txn, api, ROUTE, ip_prefix=prefix, nexthop=nexthop))
        changed += 1
    nats = {(nat.type, nat.external_ip, nat.logical_ip): nat for nat in rows.get(router, "nat")}
    wanted_nats = {nat.identity: nat for nat in spec.nats}
    for key, nat in nats.items():
        if key not in wanted_nats:
            router.delvalue("nat", nat)
            changed += 1
    for key, nat_spec in wanted_nats.items():
        columns = {
            "logical_port": rows.optional(nat_spec.logical_port),
            "external_mac": rows.optional(nat_spec.external_mac),
            "external_ids": nat_spec.external_ids,
        }
        nat = nats.get(key)
        if nat is None:
            router.addvalue(
                "nat",
                rows.insert(
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
            changed += int(rows.assign(nat, columns))
    return changed


def router_ensure(nb: Endpoint, spec: RouterSpec) -> int:
    """Make the router, its ports, static routes and NAT rules match the spec."""

    def fn(api, txn):
        router = rows.by_name(api, LR, spec.name)
        changed = 0
        if router is None:
            router = rows.insert(txn, api, LR, name=spec.name, external_ids=spec.external_ids)
            changed += 1
        else:
            for column in ("ports", "static_routes", "nat"):
                router.verify(column)
            changed += int(rows.assign(router, {"external_ids": spec.external_ids}))
        changed += _ensure_router_ports(api, txn, router, spec)
        return changed + _ensure_router_children(api, txn, router, spec)

    return rows.call(nb, fn)


def router_delete(nb: Endpoint, name: str) -> None:
    client.execute(nb.address, nb.timeout, lambda api: [api.lr_del(name, if_exists=True)])


# --- load balancers -------------------------------------------------------------------------


def load_balancer_ensure(nb: Endpoint, spec: LoadBalancerSpec) -> int:
    """Make the LB (VIPs, health checks, member mappings) and its switch/router links match."""

    def fn(api, txn):
        lb = rows.by_name(api, LB, spec.name)
        columns = {
            "vips": spec.vips,
            "protocol": [spec.protocol],
            "ip_port_mappings": spec.ip_port_mappings,
            "external_ids": spec.external_ids,
        }
        changed = 0
        if lb is None:
            lb = rows.insert(txn, api, LB, name=spec.name, **columns)
            changed += 1
        else:
            changed += int(rows.assign(lb, columns))
        have = {(hc.vip, tuple(sorted(hc.options.items()))) for hc in rows.get(lb, "health_check")}
        want = {(hc.vip, tuple(sorted((k, str(v)) for k, v in hc.options.items()))) for hc in spec.health_checks}
        if have != want:
            lb.health_check = [
                rows.insert(txn, api, HC, vip=vip, options=dict(options)) for vip, options in sorted(want)
            ]
            changed += 1
        for table, wanted in ((LS, set(spec.switches)), (LR, set(spec.routers))):
            for parent in api.tables[table].rows.values():
                if parent.name in wanted or is_ours(parent.external_ids):
                    changed += rows.link(parent, "load_balancer", lb, parent.name in wanted)
        return changed

    return rows.call(nb, fn)


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

    return rows.call(nb, fn)


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

    return bool(rows.call(nb, fn))
