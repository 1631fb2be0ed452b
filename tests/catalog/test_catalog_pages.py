"""The catalog's pages on simulated hosts (no guest agent there: a service is 'degraded' and
what the guest reports is put in its inventory by hand): the catalog, the order form made from
the parameter schema (errors next to their fields, the input kept), the service list, the
service's tabs, and what readers and other tenants see."""

import pytest
from django.test import Client

from catalog.models import Service, ServiceState
from compute.models import Instance
from network.models import Port
from portal.models import Operation
from tests.network.test_instance_ports import make_network

from .conftest import POSTGRES_ACTIONS


def page_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def pages(alice, bob, charlie, admin_user):
    return {name: page_for(user) for name, user in (("alice", alice), ("bob", bob), ("charlie", charlie))}


@pytest.fixture
def ordered(pages, run_tasks, hosts, template, flavor):
    """A service alice ordered through the order form (tasks run eagerly)."""
    with run_tasks():
        response = pages["alice"].post(
            f"/catalog/templates/{template.pk}/order/", {"name": "db1", "flavor": flavor.pk, "version": "15"}
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    return Service.objects.get(name="db1")


def test_the_catalog_lists_the_templates_and_offers_an_order_to_members(pages, template):
    body = pages["alice"].get("/catalog/").content.decode()
    assert 'data-template="postgresql"' in body and f"/catalog/templates/{template.pk}/order/" in body


def test_the_order_form_has_the_schemas_fields(pages, template):
    body = pages["alice"].get(f"/catalog/templates/{template.pk}/order/").content.decode()
    assert 'name="version"' in body and 'name="max_connections"' in body and 'name="flavor"' in body
    assert '<option value="15"' in body  # the enum as a choice


def test_a_bad_parameter_is_shown_next_to_its_field_and_the_input_is_kept(pages, template, flavor, hosts):
    response = pages["alice"].post(
        f"/catalog/templates/{template.pk}/order/",
        {"name": "keepme", "flavor": flavor.pk, "version": "15", "max_connections": "5"},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert 'data-error-for="max_connections"' in body and 'value="keepme"' in body
    assert not Service.objects.exists() and not Instance.objects.exists() and not Operation.objects.exists()


def test_a_schema_rule_the_form_field_cannot_express_is_still_checked(pages, template, flavor, hosts):
    response = pages["alice"].post(
        f"/catalog/templates/{template.pk}/order/", {"name": "db2", "flavor": flavor.pk, "version": "9.6"}
    )
    assert response.status_code == 400 and 'data-error-for="version"' in response.content.decode()
    assert not Service.objects.exists()


def test_ordering_builds_the_service_and_lands_on_its_page(pages, ordered):
    assert ordered.state == ServiceState.DEGRADED and ordered.parameters == {"version": "15"}
    body = pages["alice"].get(f"/catalog/services/{ordered.pk}/").content.decode()
    assert "service.create" in body and "no guest agent" in body
    listing = pages["alice"].get("/catalog/services/").content.decode()
    assert f"/catalog/services/{ordered.pk}/" in listing and 'id="services"' in listing


def test_a_reader_sees_the_service_and_its_listings_but_no_write_controls(pages, ordered, template):
    ordered.inventory = {"users": {"output": {"users": [{"name": "app", "superuser": False}]}, "at": "now"}}
    ordered.save()
    catalog = pages["bob"].get("/catalog/").content.decode()
    assert f"/catalog/templates/{template.pk}/order/" not in catalog
    for tab in ("overview", "users", "databases", "log", "actions"):
        body = pages["bob"].get(f"/catalog/services/{ordered.pk}/?tab={tab}").content.decode()
        assert '<form method="post" class="form action-form"' not in body and "Delete service" not in body, tab
        assert "/run/" not in body and "/log/" not in body, tab
    users = pages["bob"].get(f"/catalog/services/{ordered.pk}/?tab=users").content.decode()
    assert 'data-name="app"' in users
    refused = pages["bob"].post(f"/catalog/services/{ordered.pk}/run/db-list/", {"tab": "databases"}, follow=True)
    assert "Readers cannot" in refused.content.decode()
    assert Operation.objects.filter(kind__startswith="service.action").count() == 0


def test_a_member_sees_the_users_tab_with_its_forms(pages, ordered):
    body = pages["alice"].get(f"/catalog/services/{ordered.pk}/?tab=users").content.decode()
    assert 'id="action-user-create"' in body and 'type="password"' in body and "Not listed yet" in body
    actions = pages["alice"].get(f"/catalog/services/{ordered.pk}/?tab=actions").content.decode()
    assert all(f'id="action-{name}"' in actions for name in POSTGRES_ACTIONS)


def test_bad_action_arguments_are_shown_next_to_the_field_and_nothing_runs(pages, ordered):
    response = pages["alice"].post(
        f"/catalog/services/{ordered.pk}/run/user-create/",
        {"tab": "users", "user-create-name": "Bad Name", "user-create-password": "short"},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert 'data-error-for="name"' in body and 'data-error-for="password"' in body and 'value="Bad Name"' in body
    assert not Operation.objects.filter(kind__startswith="service.action").exists()


def test_a_valid_action_starts_its_operation_with_the_password_hidden(pages, ordered, run_tasks):
    with run_tasks():
        response = pages["alice"].post(
            f"/catalog/services/{ordered.pk}/run/user-create/",
            {"tab": "users", "user-create-name": "app", "user-create-password": "s3cret-pass"},
        )
    assert response.status_code == 302 and response["Location"].endswith("?tab=users")
    op = Operation.objects.get(kind="service.action.user-create")
    assert op.detail["arguments"] == {"name": "app", "password": "***"}
    assert op.status == "failed" and "agent" in op.error  # a simulated host has none


def test_another_tenant_gets_404_on_every_page_and_post(pages, ordered):
    other = pages["charlie"]
    assert f"/catalog/services/{ordered.pk}/" not in other.get("/catalog/services/").content.decode()
    for url in (f"/catalog/services/{ordered.pk}/", f"/catalog/services/{ordered.pk}/?tab=users"):
        assert other.get(url).status_code == 404
    for url in ("run/db-list/", "log/", "delete/"):
        assert other.post(f"/catalog/services/{ordered.pk}/{url}").status_code == 404
    assert Service.objects.get(pk=ordered.pk).state == ServiceState.DEGRADED


def test_the_log_tab_shows_the_tail_the_guest_last_gave(pages, ordered):
    ordered.inventory = {"log": {"text": "LOG:  database system is ready", "path": "/var/log/x.log", "at": "t"}}
    ordered.save()
    body = pages["alice"].get(f"/catalog/services/{ordered.pk}/?tab=log").content.decode()
    assert "database system is ready" in body and "Read the log" in body


def test_deleting_from_the_page_removes_the_service_and_its_instance(pages, ordered, run_tasks):
    instance_id = ordered.instance_id
    with run_tasks():
        response = pages["alice"].post(f"/catalog/services/{ordered.pk}/delete/")
    assert response.status_code == 302
    assert not Service.objects.exists() and Instance.objects.get(pk=instance_id).state == "deleted"


def test_the_order_form_offers_the_projects_networks_and_the_vm_gets_a_port_on_the_one_chosen(
    pages, alice, project_a, charlie, project_b, run_tasks, hosts, template, flavor, monkeypatch
):
    monkeypatch.setenv("NUBES_OVN_NB", "")  # the libvirt network backend on the simulated hosts
    monkeypatch.delenv("NUBES_NETWORK_BACKEND", raising=False)
    ours = make_network(alice, project_a, run_tasks, name="ours")
    theirs = make_network(charlie, project_b, run_tasks, name="theirs")
    form = pages["alice"].get(f"/catalog/templates/{template.pk}/order/").content.decode()
    assert f'name="networks" value="{ours.pk}"' in form and "theirs" not in form
    refused = pages["alice"].post(
        f"/catalog/templates/{template.pk}/order/",
        {"name": "db9", "flavor": flavor.pk, "version": "15", "networks": [theirs.pk]},
    )
    assert refused.status_code == 400 and 'data-error-for="networks"' in refused.content.decode()
    assert not Service.objects.exists()
    with run_tasks():
        ordered = pages["alice"].post(
            f"/catalog/templates/{template.pk}/order/",
            {"name": "db9", "flavor": flavor.pk, "version": "15", "networks": [ours.pk]},
        )
    assert ordered.status_code == 302
    assert Port.objects.get(instance=Service.objects.get(name="db9").instance).network_id == ours.pk
