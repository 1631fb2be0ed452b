"""What a replica leaves on its primary, removed when it goes (the agent faked; the scripts run in
the lab tier): a physical replication slot made for it on the primary (replication-allow) and
streamed through (replica-setup), shown in the API; at its delete or promotion the primary's
replication-revoke removes its pg_hba.conf line and drops the slot; a primary that does not
answer leaves the delete complete and the Operation saying what was left; a template without
the hook makes no slot and says so; other tenants neither see nor delete it."""

import pytest

import hypervisor as hv
from catalog.models import Service
from portal.models import Operation

from .test_catalog_backups import HOOKS, db_template, install, order, ordered, pool  # noqa: F401
from .test_catalog_replicas import REPLICA_HOOKS, ReplicaAgent, add_replica, address_of, net  # noqa: F401

REVOKED = {"address": "x/32", "hba_removed": True, "slot_dropped": True, "role_dropped": True}


class CleanupAgent(ReplicaAgent):
    def __init__(self):
        super().__init__()
        self.down = set()  # domain uuids whose agent does not answer

    def __call__(self, uri, uuid, script, arguments, *, allowed, timeout=None):
        if uuid in self.down:
            self.calls.append((uuid, script, arguments))
            raise hv.GuestAgentUnavailable("guest agent is not connected")
        return super().__call__(uri, uuid, script, arguments, allowed=allowed, timeout=timeout)

    def answer(self, script):
        return REVOKED if script == "replication-revoke" else super().answer(script)


@pytest.fixture
def agent(monkeypatch):
    return install(monkeypatch, CleanupAgent())


@pytest.fixture
def primary(order, db_template, net, agent):  # noqa: F811
    db_template.hooks = {**HOOKS, **REPLICA_HOOKS, "replication-revoke": "replication-revoke"}
    db_template.full_clean()
    db_template.save()
    service, _ = ordered(order(networks=[net.pk]))
    agent.calls.clear()
    return service


def calls_of(agent, script):
    return [(uuid, args) for uuid, name, args in agent.calls if name == script]


def delete(api, run_tasks, service, user="alice"):
    with run_tasks():
        return api[user].delete(f"/api/v1/services/{service.pk}/")


def test_the_replica_streams_through_a_slot_of_its_own_shown_in_the_api(api, run_tasks, primary, agent):
    replica, _ = ordered(add_replica(api, run_tasks, primary))
    slot = f"nubes_replica_{replica.pk}"
    (allow,) = calls_of(agent, "replication-allow")
    (setup,) = calls_of(agent, "replica-setup")
    assert allow[1]["slot"] == slot and allow[1]["address"] == address_of(replica)
    assert setup[1]["slot"] == slot and setup[1]["primary"] == address_of(primary)
    assert api["alice"].get(f"/api/v1/services/{replica.pk}/").json()["replication_slot"] == slot
    assert api["alice"].get(f"/api/v1/services/{primary.pk}/").json()["replication_slot"] == ""


def test_deleting_the_replica_removes_its_line_and_slot_on_the_primary(api, run_tasks, primary, agent):
    replica, _ = ordered(add_replica(api, run_tasks, primary))
    address, slot = address_of(replica), replica.replication_slot
    agent.calls.clear()
    response = delete(api, run_tasks, replica)
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded", op.error
    assert calls_of(agent, "replication-revoke") == [(str(primary.instance.uuid), {"address": address, "slot": slot})]
    assert f"the pg_hba.conf line for {address} and replication slot {slot} removed from db1" in op.message
    assert op.detail["revoked_on_primary"]["output"] == REVOKED and "left_on_primary" not in op.detail
    assert not Service.objects.filter(pk=replica.pk).exists()


def test_a_primary_that_does_not_answer_leaves_the_delete_complete_and_says_what_was_left(
    api, run_tasks, primary, agent
):
    replica, _ = ordered(add_replica(api, run_tasks, primary))
    address, slot = address_of(replica), replica.replication_slot
    agent.down.add(str(primary.instance.uuid))
    op = Operation.objects.get(pk=delete(api, run_tasks, replica).json()["id"])
    assert op.status == "succeeded", op.error
    assert not Service.objects.filter(pk=replica.pk).exists()
    assert f"left on db1: the pg_hba.conf line for {address} and replication slot {slot}" in op.message
    left = op.detail["left_on_primary"]
    assert left["address"] == address and left["slot"] == slot and "not connected" in left["reason"]


def test_promotion_removes_the_line_and_slot_on_the_old_primary(api, run_tasks, primary, agent):
    replica, _ = ordered(add_replica(api, run_tasks, primary))
    address, slot = address_of(replica), replica.replication_slot
    with run_tasks():
        response = api["alice"].post(f"/api/v1/services/{replica.pk}/promote/", format="json")
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded" and "removed from db1" in op.message, (op.error, op.message)
    assert calls_of(agent, "replication-revoke") == [(str(primary.instance.uuid), {"address": address, "slot": slot})]
    shown = api["alice"].get(f"/api/v1/services/{replica.pk}/").json()
    assert shown["replica_of"] is None and shown["replication_slot"] == ""
    # Promoted, it is no replica: its delete asks nothing of the old primary.
    agent.calls.clear()
    assert delete(api, run_tasks, replica).status_code == 202
    assert calls_of(agent, "replication-revoke") == []


def test_a_template_without_the_hook_makes_no_slot_and_the_delete_says_what_was_left(
    api,
    run_tasks,
    primary,
    agent,
    db_template,  # noqa: F811
):
    db_template.hooks = {**HOOKS, **REPLICA_HOOKS}
    db_template.save()
    replica, _ = ordered(add_replica(api, run_tasks, primary))
    assert replica.replication_slot == "" and "slot" not in calls_of(agent, "replication-allow")[0][1]
    op = Operation.objects.get(pk=delete(api, run_tasks, replica).json()["id"])
    assert op.status == "succeeded" and calls_of(agent, "replication-revoke") == []
    assert "left on db1: the pg_hba.conf line for" in op.message and "has no replication-revoke hook" in op.message


def test_other_tenants_and_readers_cannot_delete_the_replica(api, run_tasks, primary, agent):
    replica, _ = ordered(add_replica(api, run_tasks, primary))
    assert delete(api, run_tasks, replica, user="charlie").status_code == 404
    assert delete(api, run_tasks, replica, user="bob").status_code == 403
    assert "replication_slot" not in str(api["charlie"].get("/api/v1/services/").json())
    assert Service.objects.filter(pk=replica.pk).exists() and calls_of(agent, "replication-revoke") == []
