"""Streaming replicas of a managed database on simulated hosts, with the guest agent faked (the
scripts themselves run in the lab tier, tests/integration/test_service_guest_lab.py): a replica
ordered on another host than its primary (anti-affinity) on the primary's network, the primary
letting it in with a generated password kept sealed, the replica copying the primary over that
network; its lag read on the metrics beat into the API; promotion; deleting; the refusals
(400 for bad requests, 409 while the primary is not active or has replicas, 403 for readers, 404
for other tenants)."""

import pytest

from catalog import beat
from catalog.models import Service, ServiceState
from portal.models import Operation
from tests.network.test_instance_ports import make_network

from .test_catalog_backups import HOOKS, FakeAgent, db_template, install, order, ordered, pool  # noqa: F401

REPLICA_HOOKS = {
    "replication-allow": "replication-allow",
    "replica-setup": "replica-setup",
    "replica-status": "replica-status",
    "replica-promote": "replica-promote",
    "metrics": "metrics",
}


class ReplicaAgent(FakeAgent):
    def answer(self, script):
        return {
            "replication-allow": {"role": "nubes_replicator", "address": "x/32"},
            "replica-setup": {"primary": "x", "seconds": 4.2, "bytes": 30 * 2**20},
            "replica-status": {"role": "replica", "lag_s": 0.4, "lag_bytes": 0, "streaming": True},
            "replica-promote": {"promoted": True, "seconds": 1.1},
            "metrics": {"connections": 1, "xact_total": 5, "size_bytes": 2**20, "started": 1},
        }.get(script) or super().answer(script)


@pytest.fixture
def agent(monkeypatch):
    return install(monkeypatch, ReplicaAgent())


@pytest.fixture
def net(alice, project_a, run_tasks, monkeypatch):
    monkeypatch.setenv("NUBES_OVN_NB", "")  # the libvirt network backend on the simulated hosts
    monkeypatch.delenv("NUBES_NETWORK_BACKEND", raising=False)
    return make_network(alice, project_a, run_tasks, name="dbnet")


@pytest.fixture
def primary(order, db_template, net, agent):
    db_template.hooks = {**HOOKS, **REPLICA_HOOKS}
    db_template.full_clean()
    db_template.save()
    service, _ = ordered(order(networks=[net.pk]))
    agent.calls.clear()
    return service


def add_replica(api, run_tasks, primary, user="alice", **body):
    with run_tasks():
        return api[user].post(f"/api/v1/services/{primary.pk}/replicas/", {"name": "db-r1", **body}, format="json")


def address_of(service):
    from network.models import IPAllocation

    return IPAllocation.objects.get(port__instance=service.instance).address


def test_a_replica_is_built_on_another_host_and_copies_its_primary_over_the_network(
    api, run_tasks, primary, agent, net
):
    response = add_replica(api, run_tasks, primary)
    replica, op = ordered(response)
    assert replica.replica_of == primary and replica.state == ServiceState.ACTIVE
    assert replica.instance.host_id != primary.instance.host_id  # anti-affinity
    assert replica.instance.ports.get().network == net and replica.data_volume is not None
    allow = [args for uuid, script, args in agent.calls if script == "replication-allow"]
    setup = [args for uuid, script, args in agent.calls if script == "replica-setup"]
    assert allow == [{"address": address_of(replica), "password": allow[0]["password"]}]
    assert setup == [{"primary": address_of(primary), "password": allow[0]["password"]}]
    assert [uuid for uuid, script, _ in agent.calls if script == "replication-allow"] == [str(primary.instance.uuid)]
    primary.refresh_from_db()
    # Kept sealed on the primary, never in the API or the Operation.
    password = allow[0]["password"]
    assert len(password) >= 24 and primary.replication_password() == password
    assert password not in primary.replication_password_encrypted
    assert password not in str(op.detail) and password not in response.content.decode()
    assert password not in api["alice"].get(f"/api/v1/services/{primary.pk}/").content.decode()
    assert api["alice"].get(f"/api/v1/services/{primary.pk}/").json()["replicas"] == [replica.pk]
    # A second replica reuses the password and lands on neither host (two hosts: none left).
    refused = add_replica(api, run_tasks, primary, name="db-r2")
    assert refused.status_code == 400 and "forbids this host" in refused.content.decode(), refused.content


def test_the_lag_is_read_on_the_metrics_beat_and_shown(api, run_tasks, primary, agent):
    replica, _ = ordered(add_replica(api, run_tasks, primary))
    beat.collect_service_metrics(replica.pk)
    shown = api["alice"].get(f"/api/v1/services/{replica.pk}/").json()
    assert shown["replica_of"] == primary.pk
    assert shown["replication"]["output"]["lag_s"] == 0.4 and shown["replication"]["at"]


def test_promotion_makes_the_replica_a_primary_of_its_own(api, run_tasks, primary, agent):
    replica, _ = ordered(add_replica(api, run_tasks, primary))
    with run_tasks():
        response = api["alice"].post(f"/api/v1/services/{replica.pk}/promote/", format="json")
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.kind == "service.promote" and op.status == "succeeded", op.error
    replica.refresh_from_db()
    assert replica.replica_of is None and agent.scripts(replica.instance)[-1] == "replica-promote"
    # Not a replica any more: a second promotion is a 400 and runs nothing.
    calls = len(agent.calls)
    with run_tasks():
        again = api["alice"].post(f"/api/v1/services/{replica.pk}/promote/", format="json")
    assert again.status_code == 400 and len(agent.calls) == calls


def test_a_primary_with_replicas_is_not_deleted_and_a_replica_is(api, run_tasks, primary, agent):
    replica, _ = ordered(add_replica(api, run_tasks, primary))
    with run_tasks():
        refused = api["alice"].delete(f"/api/v1/services/{primary.pk}/")
    assert refused.status_code == 409 and "db-r1" in refused.content.decode()
    with run_tasks():
        deleted = api["alice"].delete(f"/api/v1/services/{replica.pk}/")
    assert deleted.status_code == 202
    assert not Service.objects.filter(pk=replica.pk).exists()
    with run_tasks():
        assert api["alice"].delete(f"/api/v1/services/{primary.pk}/").status_code == 202


@pytest.mark.parametrize(
    "body, field",
    [({"name": "-bad"}, "name"), ({"name": "db-r1", "extra": 1}, "extra"), ({"name": "db1"}, "name")],
)
def test_bad_requests_are_400_and_nothing_is_made(api, run_tasks, primary, agent, body, field):
    count = Service.objects.count()
    response = add_replica(api, run_tasks, primary, **body)
    assert response.status_code == 400 and field in response.content.decode(), response.content
    assert Service.objects.count() == count and not agent.calls


def test_a_replica_of_a_replica_and_a_template_without_replicas_are_400(api, run_tasks, primary, agent, db_template):
    replica, _ = ordered(add_replica(api, run_tasks, primary))
    response = add_replica(api, run_tasks, replica, name="db-r9")
    assert response.status_code == 400 and "is a replica" in response.content.decode()
    db_template.hooks = HOOKS
    db_template.save()
    response = add_replica(api, run_tasks, primary, name="db-r8")
    assert response.status_code == 400 and "has no replicas" in response.content.decode()


@pytest.mark.parametrize("state", [ServiceState.BUILDING, ServiceState.ERROR, ServiceState.DELETING])
def test_a_primary_that_is_not_active_is_409(api, run_tasks, primary, agent, state):
    Service.objects.filter(pk=primary.pk).update(state=state)
    response = add_replica(api, run_tasks, primary)
    assert response.status_code == 409, response.content
    assert Service.objects.count() == 1 and not agent.calls


def test_readers_and_other_tenants_cannot_add_or_promote(api, run_tasks, primary, agent):
    assert add_replica(api, run_tasks, primary, user="bob").status_code == 403
    assert add_replica(api, run_tasks, primary, user="charlie").status_code == 404
    replica, _ = ordered(add_replica(api, run_tasks, primary))
    with run_tasks():
        assert api["bob"].post(f"/api/v1/services/{replica.pk}/promote/").status_code == 403
        assert api["charlie"].post(f"/api/v1/services/{replica.pk}/promote/").status_code == 404
    replica.refresh_from_db()
    assert replica.replica_of == primary
    assert "replica-promote" not in agent.scripts()


def test_a_failed_copy_fails_the_replica_and_says_why(api, run_tasks, primary, agent):
    agent.failing.add("replica-setup")
    response = add_replica(api, run_tasks, primary)
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "failed" and "replica-setup broke" in op.error
    assert Service.objects.get(name="db-r1").state == ServiceState.ERROR


def test_the_page_shows_the_lag_and_adds_and_promotes_replicas(api, run_tasks, primary, agent, alice, bob):
    from django.test import Client

    member, reader = Client(), Client()
    member.force_login(alice)
    reader.force_login(bob)
    assert 'id="add-replica"' in member.get(f"/catalog/services/{primary.pk}/").content.decode()
    assert 'id="add-replica"' not in reader.get(f"/catalog/services/{primary.pk}/").content.decode()
    with run_tasks():
        response = member.post(f"/catalog/services/{primary.pk}/replicas/", {"name": "db-r1"})
    assert response.status_code == 302
    replica = Service.objects.get(name="db-r1")
    assert replica.replica_of == primary and replica.state == ServiceState.ACTIVE
    beat.collect_service_metrics(replica.pk)
    page = member.get(f"/catalog/services/{replica.pk}/").content.decode()
    assert '<span id="replica-lag">0.40 s</span>' in page and 'id="promote-replica"' in page
    assert "db-r1" in member.get(f"/catalog/services/{primary.pk}/").content.decode()
    with run_tasks():
        assert member.post(f"/catalog/services/{replica.pk}/promote/").status_code == 302
    replica.refresh_from_db()
    assert replica.replica_of is None
