"""The OVN gateway against a real NB ovsdb-server: rows appear, drift is repaired, the two
silent ovsdbapp traps are avoided, strangers' rows are left alone."""

import time

import pytest

from network.ovn import nb as ovn
from network.ovn.errors import OvnRowMissing, OvnUnreachable
from network.ovn.specs import (
    AclSpec,
    DhcpSpec,
    Endpoint,
    HealthCheckSpec,
    LoadBalancerSpec,
    NatSpec,
    PortGroupSpec,
    PortSpec,
    RouterPortSpec,
    RouterSpec,
    RouteSpec,
    SwitchSpec,
    marker,
)

MAC = "fa:16:3e:00:00:05"


def uuid_of(cell):
    return cell[1]


def setlist(cell):
    """An OVSDB set cell as a Python list."""
    return cell[1] if isinstance(cell, list) and cell and cell[0] == "set" else [cell]


def make_switch_with_port(endpoint):
    ovn.switch_ensure(endpoint, SwitchSpec("ls1", marker("network", 1, 7), {"mtu": "1442"}))
    ovn.dhcp_options_ensure(
        endpoint, DhcpSpec("sub1", "10.0.0.0/24", {"router": "10.0.0.1", "lease_time": "3600"}, marker("subnet", 1, 7))
    )
    port = PortSpec(
        "p1", (f"{MAC} 10.0.0.5",), (f"{MAC} 10.0.0.5",), dhcpv4_key="sub1", external_ids=marker("port", 1, 7)
    )
    return ovn.ports_ensure(endpoint, "ls1", [port]), port


def test_a_switch_and_port_reference_committed_dhcp_options(endpoint, nb):
    changed, _ = make_switch_with_port(endpoint)
    assert changed == 1
    [switch] = nb.rows("Logical_Switch", name="ls1")
    assert ["nubes:id", "1"] in switch["external_ids"][1]
    [dhcp] = nb.rows("DHCP_Options")
    [port] = nb.rows("Logical_Switch_Port", name="p1")
    assert port["dhcpv4_options"] == ["uuid", uuid_of(dhcp["_uuid"])]
    assert port["port_security"] == f"{MAC} 10.0.0.5"


def test_ensuring_twice_changes_nothing(endpoint, nb):
    _, port = make_switch_with_port(endpoint)
    assert ovn.ports_ensure(endpoint, "ls1", [port]) == 0


def test_an_edited_port_is_put_back(endpoint, nb):
    _, port = make_switch_with_port(endpoint)
    [row] = nb.rows("Logical_Switch_Port", name="p1")
    nb.transact(
        {
            "op": "update",
            "table": "Logical_Switch_Port",
            "where": [["name", "==", "p1"]],
            "row": {"port_security": ["set", []]},
        }
    )
    # The gateway's replica may not have seen the edit yet (a verify without a write is never
    # sent, so a lagging replica finds nothing to do): the next ensure after it has puts it back.
    deadline, changed = time.monotonic() + 5, 0
    while not changed and time.monotonic() < deadline:
        changed = ovn.ports_ensure(endpoint, "ls1", [port]) or time.sleep(0.05)
    assert changed == 1
    assert nb.rows("Logical_Switch_Port", name="p1")[0]["port_security"] == f"{MAC} 10.0.0.5"


def test_a_port_needs_its_subnets_dhcp_options_first(endpoint, nb):
    ovn.switch_ensure(endpoint, SwitchSpec("ls1"))
    with pytest.raises(OvnRowMissing):
        ovn.ports_ensure(endpoint, "ls1", [PortSpec("p1", dhcpv4_key="never-made")])
    assert nb.rows("Logical_Switch_Port") == []


def test_port_group_members_are_real_rows_and_acls_follow_the_spec(endpoint, nb):
    make_switch_with_port(endpoint)
    allow = AclSpec("to-lport", 1002, "outport == @pg_a && ip4", "allow-related")
    ovn.port_group_ensure(endpoint, PortGroupSpec("pg_a", (allow,), ("p1",), marker("security_group", 1)))
    [pg] = nb.rows("Port_Group", name="pg_a")
    [port] = nb.rows("Logical_Switch_Port", name="p1")
    assert pg["ports"] == ["uuid", uuid_of(port["_uuid"])]
    assert [acl["match"] for acl in nb.rows("ACL")] == ["outport == @pg_a && ip4"]
    tighter = AclSpec("to-lport", 1002, "outport == @pg_a && ip4 && tcp", "allow-related")
    assert ovn.port_group_ensure(endpoint, PortGroupSpec("pg_a", (tighter,), None, marker("security_group", 1))) == 2
    assert [acl["match"] for acl in nb.rows("ACL")] == ["outport == @pg_a && ip4 && tcp"]
    assert nb.rows("Port_Group", name="pg_a")[0]["ports"] == ["uuid", uuid_of(port["_uuid"])]


def test_router_with_ports_routes_and_nat(endpoint, nb):
    spec = RouterSpec(
        "lr1",
        (RouterPortSpec("lrp1", "fa:16:3e:00:00:01", ("10.0.0.1/24",), ("chassis-a",), marker("router_port", 1)),),
        (RouteSpec("192.168.5.0/24", "10.0.0.254"),),
        (NatSpec("snat", "172.24.0.10", "10.0.0.0/24"), NatSpec("dnat_and_snat", "172.24.0.11", "10.0.0.5", "p1", MAC)),
        marker("router", 1),
    )
    ovn.router_ensure(endpoint, spec)
    assert ovn.router_ensure(endpoint, spec) == 0
    [router] = nb.rows("Logical_Router", name="lr1")
    assert len(setlist(router["nat"])) == 2
    assert {n["type"] for n in nb.rows("NAT")} == {"snat", "dnat_and_snat"}
    assert nb.rows("Logical_Router_Static_Route")[0]["nexthop"] == "10.0.0.254"
    assert nb.rows("Gateway_Chassis")[0]["chassis_name"] == "chassis-a"
    ovn.router_ensure(endpoint, RouterSpec("lr1", spec.ports, (), spec.nats[:1], marker("router", 1)))
    assert [n["type"] for n in nb.rows("NAT")] == ["snat"] and nb.rows("Logical_Router_Static_Route") == []


def test_load_balancer_with_health_check_is_linked_to_its_switch(endpoint, nb):
    ovn.switch_ensure(endpoint, SwitchSpec("ls1", marker("network", 1)))
    spec = LoadBalancerSpec(
        "lb1",
        {"10.0.0.10:80": "10.0.0.5:8080,10.0.0.6:8080"},
        "tcp",
        (HealthCheckSpec("10.0.0.10:80", {"interval": 5}),),
        {"10.0.0.5": "p1:10.0.0.10"},
        ("ls1",),
        (),
        marker("load_balancer", 1),
    )
    ovn.load_balancer_ensure(endpoint, spec)
    [lb] = nb.rows("Load_Balancer", name="lb1")
    assert lb["vips"] == ["map", [["10.0.0.10:80", "10.0.0.5:8080,10.0.0.6:8080"]]]
    assert nb.rows("Load_Balancer_Health_Check")[0]["options"] == ["map", [["interval", "5"]]]
    assert nb.rows("Logical_Switch", name="ls1")[0]["load_balancer"] == ["uuid", uuid_of(lb["_uuid"])]


def test_owned_rows_skip_rows_nubes_did_not_make(endpoint, nb):
    ovn.switch_ensure(endpoint, SwitchSpec("ours", marker("network", 3)))
    nb.transact({"op": "insert", "table": "Logical_Switch", "row": {"name": "theirs"}})
    assert [row.name for row in ovn.owned_rows(endpoint)] == ["ours"]
    [theirs] = nb.rows("Logical_Switch", name="theirs")
    assert ovn.owned_row_delete(endpoint, "Logical_Switch", uuid_of(theirs["_uuid"])) is False
    assert nb.rows("Logical_Switch", name="theirs")


def test_an_unreachable_database_raises_a_typed_error(tmp_path):
    with pytest.raises(OvnUnreachable):
        ovn.ping(Endpoint(f"unix:{tmp_path}/nothing.sock", 1.0))


def test_a_restarted_database_is_reached_again(endpoint, nb):
    ovn.switch_ensure(endpoint, SwitchSpec("ls1"))
    nb.stop()
    with pytest.raises(OvnUnreachable):
        ovn.switch_ensure(endpoint, SwitchSpec("ls2"))
    nb.start()
    assert ovn.switch_ensure(endpoint, SwitchSpec("ls2")) == 1
    assert {row["name"] for row in nb.rows("Logical_Switch")} == {"ls1", "ls2"}
