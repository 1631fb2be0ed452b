"""The scheduler API: cloud-admin resources are staff only (non-staff cannot approve or
power hosts), server groups are project-owned (the permission matrix), passwords are
write-only, and the cluster verbs answer with what they did."""

import pytest

from portal.models import Operation
from scheduler import choices as c
from scheduler.models import PowerDriverConfig, Recommendation, ServerGroup
from tests.matrix import PermissionMatrix

STAFF_ONLY_LISTS = [
    "/api/v1/recommendations/",
    "/api/v1/affinity-rules/",
    "/api/v1/host-power/",
    "/api/v1/ha-events/",
    "/api/v1/scheduler-settings/",
]


@pytest.fixture
def imbalanced(hosts, make_instance):
    return [make_instance(hosts[0], f"web-{n}") for n in range(4)]


class TestServerGroupPermissions(PermissionMatrix):
    list_url = "/api/v1/server-groups/"
    change_payload = {"name": "renamed"}

    def make(self, project):
        return ServerGroup.objects.create(project=project, name="web", policy=c.ServerGroupPolicy.ANTI_AFFINITY)


@pytest.mark.parametrize("url", STAFF_ONLY_LISTS)
def test_cloud_admin_resources_are_refused_to_tenants(api, url):
    assert api["alice"].get(url).status_code == 403
    assert api["anon"].get(url).status_code in (401, 403)
    assert api["admin"].get(url).status_code == 200


def test_a_member_cannot_approve_a_recommendation(api, cluster, imbalanced, fake_migrations):
    response = api["admin"].post(f"/api/v1/clusters/{cluster.pk}/drs-run/")
    assert response.status_code == 201
    rec_id = response.json()["recommendation"]["id"]
    assert api["alice"].post(f"/api/v1/recommendations/{rec_id}/approve/").status_code == 403
    assert Recommendation.objects.get(pk=rec_id).state == c.RecommendationState.PROPOSED
    assert fake_migrations.calls == []


def test_an_admin_runs_drs_and_approves_through_the_api(api, cluster, imbalanced, fake_migrations, run_tasks):
    rec_id = api["admin"].post(f"/api/v1/clusters/{cluster.pk}/drs-run/").json()["recommendation"]["id"]
    with run_tasks():
        response = api["admin"].post(f"/api/v1/recommendations/{rec_id}/approve/")
    assert response.status_code == 202
    body = api["admin"].get(f"/api/v1/recommendations/{rec_id}/").json()
    assert body["state"] == "applied" and body["imbalance_after"] < body["imbalance_before"]
    assert len(body["operations"]) == len(body["moves"])
    again = api["admin"].post(f"/api/v1/recommendations/{rec_id}/approve/")
    assert again.status_code == 409


def test_a_balanced_cluster_answers_with_the_reason(api, cluster, hosts):
    body = api["admin"].post(f"/api/v1/clusters/{cluster.pk}/drs-run/").json()
    assert body["recommendation"] is None and "No moves" in body["message"]


def test_settings_are_validated(api, cluster):
    url = f"/api/v1/scheduler-settings/{cluster.pk}/"
    bad = api["admin"].patch(url, {"drs_threshold": 9}, format="json")
    assert bad.status_code == 400 and "drs_threshold" in bad.json()
    crossed = api["admin"].patch(url, {"dpm_target_low_pct": 80, "dpm_target_high_pct": 50}, format="json")
    assert crossed.status_code == 400
    unknown = api["admin"].patch(url, {"drs_mood": "calm"}, format="json")
    assert unknown.status_code == 400
    ok = api["admin"].patch(url, {"drs_automation": "full", "drs_threshold": 4}, format="json")
    assert ok.status_code == 200 and ok.json()["drs_threshold"] == 4


def test_the_bmc_password_is_write_only(api, hosts):
    url = f"/api/v1/host-power/{hosts[0].pk}/"
    response = api["admin"].patch(
        url, {"kind": "ipmi", "address": "10.0.0.9", "username": "root", "password": "hunter2"}, format="json"
    )
    assert response.status_code == 200
    assert "hunter2" not in response.content.decode()
    assert response.json()["driver"]["has_password"] is True
    assert "hunter2" not in api["admin"].get(url).content.decode()
    assert PowerDriverConfig.objects.get(host=hosts[0]).password() == "hunter2"


def test_a_bad_driver_address_is_a_field_error(api, hosts):
    response = api["admin"].patch(
        f"/api/v1/host-power/{hosts[0].pk}/", {"kind": "wol", "address": "nope"}, format="json"
    )
    assert response.status_code == 400 and "address" in response.json()


def test_power_actions_answer_202_with_the_operation(api, hosts, run_tasks):
    with run_tasks():
        response = api["admin"].post(f"/api/v1/host-power/{hosts[2].pk}/power-off/")
    assert response.status_code == 202
    assert Operation.objects.get(pk=response.json()["id"]).status == "succeeded"
    assert api["alice"].post(f"/api/v1/host-power/{hosts[2].pk}/power-on/").status_code == 403


def test_ha_status_shows_hosts_admission_and_events(api, cluster, hosts):
    body = api["admin"].get(f"/api/v1/clusters/{cluster.pk}/ha-status/").json()
    assert {h["name"] for h in body["hosts"]} == {"host-a", "host-b", "host-c"}
    assert body["admission"]["allowed"] is True
    assert body["ha_enabled"] is True


def test_a_tenant_cannot_put_another_tenants_instance_in_its_group(api, project_b, make_instance, hosts):
    theirs = make_instance(hosts[0], "theirs", project=project_b)
    response = api["alice"].post(
        "/api/v1/server-groups/", {"name": "g", "policy": "affinity", "members": [theirs.pk]}, format="json"
    )
    assert response.status_code == 400 and "members" in response.json()


def test_an_instance_is_in_one_server_group_at_most(api, make_instance, hosts):
    mine = make_instance(hosts[0], "mine")
    first = api["alice"].post(
        "/api/v1/server-groups/", {"name": "g1", "policy": "anti-affinity", "members": [mine.pk]}, format="json"
    )
    assert first.status_code == 201
    second = api["alice"].post(
        "/api/v1/server-groups/", {"name": "g2", "policy": "affinity", "members": [mine.pk]}, format="json"
    )
    assert second.status_code == 400 and "one server group" in str(second.json())


def test_an_affinity_rule_needs_hosts_of_its_cluster(api, cluster, hosts, make_instance):
    a, b = make_instance(hosts[0], "a"), make_instance(hosts[1], "b")
    no_hosts = api["admin"].post(
        "/api/v1/affinity-rules/",
        {"cluster": cluster.pk, "name": "pin", "kind": "vm-host-affinity", "instances": [a.pk]},
        format="json",
    )
    assert no_hosts.status_code == 400 and "hosts" in no_hosts.json()
    apart = api["admin"].post(
        "/api/v1/affinity-rules/",
        {"cluster": cluster.pk, "name": "apart", "kind": "vm-anti-affinity", "instances": [a.pk, b.pk]},
        format="json",
    )
    assert apart.status_code == 201
