"""Ports show up/down from OVN: beat reads Logical_Switch_Port.up for all our ports at once,
updates Port.status and publishes changes to the port's and the network's groups."""

import time

import pytest

from network.models import Port
from network.tasks import status as status_tasks
from portal import realtime
from portal.celery import app as celery_app

pytestmark = pytest.mark.django_db
POLL_S = 0.02


def set_up(nb, port, up):
    nb.transact(
        {
            "op": "update",
            "table": "Logical_Switch_Port",
            "where": [["name", "==", port.interface_id]],
            "row": {"up": up},
        }
    )


@pytest.fixture
def published(monkeypatch):
    sent = []
    monkeypatch.setattr(status_tasks.realtime, "publish", lambda group, event, data: sent.append((group, data)))
    monkeypatch.setattr(
        status_tasks.realtime,
        "publish_many",
        lambda messages: sent.extend((group, data) for group, event, data in messages),
    )
    return sent


def becomes(port, wanted, refresh, attempts=100):
    """Run `refresh` until the port has `wanted` status (the NB replica learns of the change
    asynchronously)."""
    for _ in range(attempts):
        refresh()
        if Port.objects.get(pk=port.pk).status == wanted:
            return True
        time.sleep(POLL_S)
    return False


def test_a_port_ovn_reports_up_becomes_up_and_is_published(port, nb, published):
    set_up(nb, port, True)
    assert becomes(port, "up", status_tasks.port_status_periodic)
    groups = {group for group, _ in published}
    assert {f"network.port.{port.pk}", f"network.network.{port.network_id}"} <= groups
    assert all(data["status"] == "up" and data["id"] == port.pk for _, data in published)


def test_an_unchanged_port_publishes_nothing(port, nb, published):
    set_up(nb, port, False)
    assert becomes(port, "down", status_tasks.refresh_port_status)
    published.clear()
    assert status_tasks.refresh_port_status() == 0
    assert published == []


def test_a_port_no_chassis_claimed_is_unknown(port, nb):
    assert status_tasks.refresh_port_status() == 0
    port.refresh_from_db()
    assert port.status == "unknown"


def test_the_beat_runs_the_port_status_task():
    entry = celery_app.conf.beat_schedule["network-port-status"]
    assert entry["task"] == "network.tasks.port_status_periodic" and entry["schedule"] > 0


def test_only_the_projects_members_may_join_a_ports_and_its_networks_groups(port, alice, charlie):
    for group in (f"network.port.{port.pk}", f"network.network.{port.network_id}"):
        assert realtime.may_join(alice, group)
        assert not realtime.may_join(charlie, group)
