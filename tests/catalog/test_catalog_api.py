"""The service catalog's API on simulated hosts: templates (cloud admins), orders, tenant
isolation, and 4xx for bad parameters and unknown actions with nothing run in the guest.
(libvirt's test driver has no guest agent: a service there is 'degraded' with that reason, and
an allowed action's Operation fails saying so. The agent round trips are in the lab tier.)"""

import pytest

from catalog.models import Service, ServiceState, ServiceTemplate
from compute.models import Instance
from portal.models import Operation

from .conftest import POSTGRES_ACTIONS, POSTGRES_SCHEMA


@pytest.fixture
def order(api, run_tasks, hosts, template, flavor):
    """order(user='alice', **fields) -> response; tasks run eagerly."""

    def do(user="alice", **fields):
        payload = {"name": "db1", "template": template.pk, "flavor": flavor.pk, "parameters": {"version": "15"}}
        with run_tasks():
            return api[user].post("/api/v1/services/", {**payload, **fields}, format="json")

    return do


def test_a_member_orders_a_database_through_compute_as_one_operation(order, api, alice):
    response = order()
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.kind == "service.create" and op.status == "succeeded", (op.status, op.error)
    service = Service.objects.get(pk=op.target_id)
    instance = Instance.objects.get(pk=op.detail["instance"])
    assert service.instance == instance and instance.name == "svc-db1" and instance.state == "active"
    assert Operation.objects.get(pk=op.detail["instance_operation"]).kind == "instance.create"
    # No agent on a simulated host: degraded, and the page says why.
    assert service.state == ServiceState.DEGRADED and "guest agent" in service.status_reason
    body = api["alice"].get(f"/api/v1/services/{service.pk}/").json()
    assert body["template_name"] == "postgresql" and body["parameters"] == {"version": "15"}


def test_another_tenant_neither_sees_nor_acts_on_the_service(order, api):
    service_id = Operation.objects.get(pk=order().json()["id"]).target_id
    assert api["charlie"].get("/api/v1/services/").json()["count"] == 0
    assert api["charlie"].get(f"/api/v1/services/{service_id}/").status_code == 404
    run = api["charlie"].post(f"/api/v1/services/{service_id}/run/", {"action": "db-list"}, format="json")
    assert run.status_code == 404
    assert api["charlie"].delete(f"/api/v1/services/{service_id}/").status_code == 404
    assert api["alice"].get("/api/v1/services/").json()["count"] == 1


def test_a_tenant_cannot_order_into_another_project(order, project_b):
    response = order(project=project_b.pk)
    assert response.status_code == 400 and "project" in response.json()
    assert not Service.objects.exists() and not Instance.objects.exists()


def test_a_reader_cannot_order_or_act(order, api):
    refused = order(user="bob")  # a reader's project is not one he may create in (as for instances)
    assert refused.status_code == 400 and "project" in refused.json()
    service_id = Operation.objects.get(pk=order().json()["id"]).target_id
    response = api["bob"].post(f"/api/v1/services/{service_id}/run/", {"action": "db-list"}, format="json")
    assert response.status_code == 403


@pytest.mark.parametrize(
    "parameters, field",
    [
        ({}, "version"),  # required
        ({"version": "9.6"}, "version"),  # not in the enum
        ({"version": "15", "max_connections": 5}, "max_connections"),
        ({"version": "15", "shared_preload_libraries": "evil"}, "shared_preload_libraries"),  # not allowed
        ({"version": "15", "max_connections": "100; DROP"}, "max_connections"),
    ],
)
def test_bad_parameters_are_a_400_and_nothing_is_built(order, parameters, field):
    response = order(parameters=parameters)
    assert response.status_code == 400, response.content
    assert field in str(response.json()), response.json()
    assert not Instance.objects.exists() and not Service.objects.exists() and not Operation.objects.exists()


def test_a_flavor_the_template_does_not_allow_is_a_400(order, big_flavor):
    response = order(flavor=big_flavor.pk)
    assert response.status_code == 400 and "flavor" in str(response.json())
    assert not Instance.objects.exists()


@pytest.fixture
def service(order):
    return Service.objects.get(pk=Operation.objects.get(pk=order().json()["id"]).target_id)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"action": "rm-rf"}, "action"),
        ({"action": "../../bin/sh"}, "action"),
        ({"action": "db-create", "arguments": {}}, "name"),
        ({"action": "db-create", "arguments": {"name": "x; DROP DATABASE postgres"}}, "name"),
        ({"action": "db-create", "arguments": {"name": "app", "extra": 1}}, "extra"),
        ({"action": "user-create", "arguments": {"name": "u", "password": "short"}}, "password"),
        ({"action": "db-list", "arguments": ["not", "an", "object"]}, "arguments"),
    ],
)
def test_unknown_actions_and_bad_arguments_are_a_400_and_nothing_runs(api, run_tasks, service, body, field):
    before = Operation.objects.count()
    with run_tasks():
        response = api["alice"].post(f"/api/v1/services/{service.pk}/run/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in str(response.json())
    assert Operation.objects.count() == before  # nothing queued, so nothing reached the guest


def test_an_allowed_action_fails_clearly_without_an_agent_and_keeps_no_password(api, run_tasks, service):
    body = {"action": "user-create", "arguments": {"name": "app", "password": "correct-horse-battery"}}
    with run_tasks():
        response = api["alice"].post(f"/api/v1/services/{service.pk}/run/", body, format="json")
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.kind == "service.action.user-create" and op.status == "failed"
    assert "guest agent" in op.error
    assert op.detail["arguments"] == {"name": "app", "password": "***"}
    assert "correct-horse" not in str(Operation.objects.filter(pk=op.pk).values().get())


def test_deleting_a_service_deletes_its_instance_as_one(api, run_tasks, service):
    instance_id = service.instance_id
    with run_tasks():
        response = api["alice"].delete(f"/api/v1/services/{service.pk}/")
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded", op.error
    assert not Service.objects.exists()
    assert Instance.objects.get(pk=instance_id).state == "deleted"


def test_templates_are_managed_by_cloud_admins_only(api, image, flavor, template):
    payload = {
        "name": "postgresql-2",
        "image": image.pk,
        "flavors": [flavor.pk],
        "parameter_schema": POSTGRES_SCHEMA,
        "actions": POSTGRES_ACTIONS,
    }
    assert api["alice"].post("/api/v1/service-templates/", payload, format="json").status_code == 403
    assert api["alice"].get("/api/v1/service-templates/").json()["count"] == 1  # tenants read the catalog
    response = api["admin"].post("/api/v1/service-templates/", payload, format="json")
    assert response.status_code == 201, response.content
    assert ServiceTemplate.objects.get(name="postgresql-2").flavors.get() == flavor


@pytest.mark.parametrize(
    "change, field",
    [
        ({"parameter_schema": {"type": "object"}}, "parameter_schema"),  # extra keys would pass
        (
            {"parameter_schema": {"type": "object", "additionalProperties": False, "properties": {"x": {}}}},
            "parameter_schema",
        ),
        ({"parameter_schema": {"type": "nonsense"}}, "parameter_schema"),
        ({"actions": {"sh": {"script": "/bin/sh"}}}, "actions"),
        ({"actions": {"BAD NAME": {"script": "health"}}}, "actions"),
        ({"actions": {"health": {"script": "health", "shell": "rm -rf /"}}}, "actions"),
        ({"actions": {"health": {"script": "health", "arguments": {"type": "object"}}}}, "actions"),
        ({"readable_paths": ["../etc"]}, "readable_paths"),
    ],
)
def test_a_template_with_unusable_schemas_or_scripts_is_a_400(api, template, change, field):
    response = api["admin"].patch(f"/api/v1/service-templates/{template.pk}/", change, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_a_template_in_use_cannot_be_deleted(api, service, template):
    assert api["admin"].delete(f"/api/v1/service-templates/{template.pk}/").status_code == 409


def test_a_project_purge_deletes_its_services_with_their_instances(api, run_tasks, service, project_a):
    from portal import teardown

    assert teardown.owned_counts(project_a)["services"] == 1
    with run_tasks():
        response = api["admin"].post(f"/api/v1/projects/{project_a.pk}/purge/")
    assert response.status_code == 202, response.content
    op = Operation.objects.get(pk=response.json()["id"])
    assert op.status == "succeeded", op.error
    assert not Service.objects.exists()
