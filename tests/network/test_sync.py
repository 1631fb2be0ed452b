"""The sync makes NB match the database again: rows deleted or edited behind our back come
back, orphans we made are reported (and only ours), and an NB outage fails the Operation
while the database keeps the intended state until the sync realises it."""

import pytest

from network import services
from network.backends.ovn import endpoint
from network.choices import State
from network.models import Network
from network.ovn import nb as ovn
from network.ovn.specs import SwitchSpec, marker
from portal.models import Operation

pytestmark = pytest.mark.django_db


def sync(run_tasks, clean=False):
    with run_tasks():
        op = services.start_sync(clean_orphans=clean)
    op.refresh_from_db()
    assert op.status == "succeeded", op.error
    return op


def test_a_port_deleted_behind_our_back_comes_back(nb, port, run_tasks):
    nb.transact({"op": "delete", "table": "Logical_Switch", "where": [["name", "==", port.network.switch_name]]})
    assert nb.rows("Logical_Switch_Port", name=port.interface_id) == []
    op = sync(run_tasks)
    assert nb.rows("Logical_Switch_Port", name=port.interface_id)
    assert op.detail["repaired"] >= 2


def test_an_edited_acl_set_is_put_back(nb, port, run_tasks):
    nb.transact({"op": "update", "table": "Port_Group", "where": [], "row": {"acls": ["set", []]}})
    sync(run_tasks)
    assert any("@nubes_drop" in acl["match"] for acl in nb.rows("ACL"))


def test_orphans_we_made_are_reported_and_strangers_rows_untouched(nb, port, run_tasks):
    ovn.switch_ensure(endpoint(), SwitchSpec("nubes-gone", marker("network", "no-such-network")))
    nb.transact({"op": "insert", "table": "Logical_Switch", "row": {"name": "not-ours"}})
    op = sync(run_tasks)
    assert [o["name"] for o in op.detail["orphans"]] == ["nubes-gone"]
    sync(run_tasks, clean=True)
    names = {row["name"] for row in nb.rows("Logical_Switch")}
    assert "nubes-gone" not in names and "not-ours" in names and port.network.switch_name in names


def test_an_nb_outage_fails_the_operation_and_the_sync_realises_later(nb, alice, project_a, run_tasks):
    nb.stop()
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="during-outage")
    op = Operation.objects.get(kind="network.create", target_id=str(network.pk))
    assert op.status == "failed" and "unreachable" in op.error
    network.refresh_from_db()
    assert network.state == State.ERROR and Network.objects.filter(pk=network.pk).exists()
    nb.start()
    sync(run_tasks)
    assert nb.rows("Logical_Switch", name=network.switch_name)
    network.refresh_from_db()
    assert network.state == State.ACTIVE


def test_a_delete_during_an_outage_is_finished_by_the_sync(nb, port, alice, run_tasks):
    nb.stop()
    with run_tasks():
        services.delete_port(alice, port)
    port.refresh_from_db()
    assert port.state == State.DELETING
    nb.start()
    sync(run_tasks)
    assert nb.rows("Logical_Switch_Port", name=port.interface_id) == []
    assert not type(port).objects.filter(pk=port.pk).exists()


def test_the_sync_reads_port_up_state(nb, port, run_tasks):
    nb.transact(
        {
            "op": "update",
            "table": "Logical_Switch_Port",
            "where": [["name", "==", port.interface_id]],
            "row": {"up": True},
        }
    )
    sync(run_tasks)
    port.refresh_from_db()
    assert port.status == "up"


def test_router_advertisements_edited_behind_our_back_are_put_back(nb, alice, project_a, run_tasks):
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="v6")
        subnet, _ = services.create_subnet(
            alice, network, cidr="fd00:7::/64", gateway_ip="fd00:7::1", ipv6_ra_mode="slaac", ipv6_address_mode="slaac"
        )
        router, _ = services.create_router(alice, project_a, name="r6")
    with run_tasks():
        services.add_interface(alice, router, subnet)
    [lrp] = nb.rows("Logical_Router_Port")
    wanted = dict(lrp["ipv6_ra_configs"][1])
    assert wanted["address_mode"] == "slaac"
    nb.transact(
        {
            "op": "update",
            "table": "Logical_Router_Port",
            "where": [],
            "row": {"ipv6_ra_configs": ["map", [["address_mode", "dhcpv6_stateful"], ["send_periodic", "false"]]]},
        }
    )
    op = sync(run_tasks)
    assert dict(nb.rows("Logical_Router_Port")[0]["ipv6_ra_configs"][1]) == wanted
    assert op.detail["repaired"] >= 1
    nb.transact({"op": "update", "table": "Logical_Router_Port", "where": [], "row": {"ipv6_ra_configs": ["map", []]}})
    sync(run_tasks)
    assert dict(nb.rows("Logical_Router_Port")[0]["ipv6_ra_configs"][1]) == wanted
