"""Tunnel keys come from the Northbound's keys too, so two portals (or test sessions) on one
NB never hand out the same key."""

import pytest

from network import services
from network.models import Network

pytestmark = pytest.mark.django_db
STRANGER_KEY = 4242


def stranger_switch(nb, name, key):
    """A logical switch another portal made, asking for `key`."""
    nb.transact(
        {
            "op": "insert",
            "table": "Logical_Switch",
            "row": {"name": name, "other_config": ["map", [["requested-tnl-key", str(key)]]]},
        }
    )


def tunnel_key_of(nb, network):
    [row] = nb.rows("Logical_Switch", name=network.switch_name)
    return int(dict(row["other_config"][1])["requested-tnl-key"])


def test_a_new_network_takes_a_key_above_every_key_already_in_the_northbound(nb, alice, project_a, run_tasks):
    stranger_switch(nb, "other-portal", STRANGER_KEY)
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="n1")
    assert network.tunnel_key == STRANGER_KEY + 1
    assert tunnel_key_of(nb, network) == STRANGER_KEY + 1


def test_a_key_taken_in_the_northbound_before_realisation_is_moved(nb, alice, project_a, run_tasks):
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="n1")
        allocated = network.tunnel_key
        stranger_switch(nb, "other-portal", allocated)  # between allocation and realisation
    network.refresh_from_db()
    assert network.tunnel_key == allocated + 1 and network.state == "active"
    assert tunnel_key_of(nb, network) == allocated + 1


def test_keys_come_from_the_database_alone_while_the_northbound_is_down(nb, alice, project_a):
    nb.stop()
    try:
        network, _ = services.create_network(alice, project_a, name="n1")
    finally:
        nb.start()
    assert Network.objects.get(pk=network.pk).tunnel_key == 1
