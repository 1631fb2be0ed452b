"""/api/v1/migrations/: tenants see their instances' migrations (charlie sees none of
alice's), only cloud admins start, cancel or switch one; starting answers 202."""

import pytest

from compute.models import Migration, MigrationState
from tests.compute.live_helpers import baseline, instant, running  # noqa: F401

URL = "/api/v1/migrations/"


@pytest.fixture
def migration(running, hosts):
    return Migration.objects.create(
        instance=running,
        source=hosts[0],
        target=hosts[1],
        state=MigrationState.RUNNING,
        samples=[{"t": 0.5, "memory_remaining": 1}],
    )


def ids(response):
    return {row["id"] for row in response.json()["results"]}


def test_members_and_readers_see_it_outsiders_do_not(api, migration):
    for user in ("alice", "bob", "admin"):
        assert ids(api[user].get(URL)) == {migration.pk}, user
        assert api[user].get(f"{URL}{migration.pk}/").status_code == 200
    assert ids(api["charlie"].get(URL)) == set()
    assert api["charlie"].get(f"{URL}{migration.pk}/").status_code == 404
    assert api["anon"].get(URL).status_code in (401, 403)


def test_the_detail_carries_the_samples_and_the_list_does_not(api, migration):
    assert api["alice"].get(f"{URL}{migration.pk}/").json()["samples"] == [{"t": 0.5, "memory_remaining": 1}]
    assert "samples" not in api["alice"].get(URL).json()["results"][0]


def test_a_cloud_admin_starts_one_and_gets_the_operation(api, run_tasks, running, hosts, baseline, instant):
    payload = {
        "instance": running.pk,
        "target_host": hosts[1].pk,
        "bandwidth_mib_s": 100,
        "auto_converge": True,
        "copy_storage": True,
        "reason": "patching host-a",
    }
    with run_tasks():
        response = api["admin"].post(URL, payload, format="json")
    assert response.status_code == 202 and response.json()["kind"] == "instance.migrate"
    migration = Migration.objects.get(operation_id=response.json()["id"])
    assert migration.options == {
        "bandwidth_mib_s": 100,
        "max_downtime_ms": 300,
        "auto_converge": True,
        "postcopy": False,
        "compressed": False,
        "copy_storage": True,
    }
    assert migration.state == MigrationState.SUCCEEDED and migration.reason == "patching host-a"


def test_tenants_cannot_start_one(api, running, hosts, baseline):
    payload = {"instance": running.pk, "target_host": hosts[1].pk, "copy_storage": True}
    assert api["alice"].post(URL, payload, format="json").status_code == 403
    response = api["charlie"].post(URL, payload, format="json")
    assert response.status_code == 400 and "instance" in response.json()
    assert not Migration.objects.exists()


@pytest.mark.parametrize(
    "field, value",
    [
        ("bandwidth_mib_s", -5),
        ("max_downtime_ms", 0),
        ("parallel_connections", 99),
        ("auto_converge", "sometimes"),
        ("turbo", True),
    ],
)
def test_bad_options_are_refused_by_field(api, running, hosts, field, value):
    response = api["admin"].post(URL, {"instance": running.pk, field: value}, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not Migration.objects.exists()


def test_a_refused_pre_check_is_a_400_with_the_reason(api, running, hosts):
    response = api["admin"].post(
        URL, {"instance": running.pk, "target_host": hosts[1].pk, "copy_storage": True}, format="json"
    )
    assert response.status_code == 400 and "cannot run the CPU of host-a" in response.json()["target_host"][0]


def test_cancel_and_post_copy_are_for_cloud_admins(api, migration):
    for action in ("cancel", "switch-to-postcopy"):
        assert api["bob"].post(f"{URL}{migration.pk}/{action}/").status_code == 403
        assert api["alice"].post(f"{URL}{migration.pk}/{action}/").status_code == 403
        assert api["charlie"].post(f"{URL}{migration.pk}/{action}/").status_code == 404


def test_a_finished_migration_cannot_be_cancelled(api, migration):
    migration.state = MigrationState.SUCCEEDED
    migration.save()
    assert api["admin"].post(f"{URL}{migration.pk}/cancel/").status_code == 409


def test_evacuate_answers_with_what_started_and_what_waits(api, run_tasks, launch, hosts, baseline):
    for n in range(3):
        launch(name=f"vm-{n}")
    response = api["admin"].post(f"{URL}evacuate/", {"host": hosts[0].pk, "batch": 1}, format="json")
    assert response.status_code == 202
    assert len(response.json()["started"]) == 1 and response.json()["waiting"] == 2
    assert api["alice"].post(f"{URL}evacuate/", {"host": hosts[0].pk}, format="json").status_code == 403
