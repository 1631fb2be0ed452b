"""The network lists on django-tables2 + django-filter: a tenant never sees another's rows nor
deletes them in bulk, a column sorts, a name search and a state filter narrow the rows, an
unknown state is a field error, and a bulk delete asks on a page first."""

import re

import pytest

from network import services
from network.models import Network, Port
from network.views.resources import RESOURCES
from tests.network.conftest import signed_in

ROW = re.compile(r'<tr[^>]*data-id="(\d+)"')


def row_ids(response):
    assert response.status_code == 200, response.content[:500]
    return {int(pk) for pk in ROW.findall(response.content.decode())}


def private_rows(slug, project, outsider):
    """The project's rows the outsider may not see (an external network is everyone's)."""
    model = RESOURCES[slug].model
    shared = model.objects.visible_to(outsider).values_list("pk", flat=True)
    rows = set(model.objects.filter(project=project).exclude(pk__in=shared).values_list("pk", flat=True))
    assert rows, f"the fixture has no private {slug}: the test could not fail"
    return rows


@pytest.fixture
def balanced(lab, alice, project_a, run_tasks):
    """The lab and a load balancer of alice's, so every list has a private row."""
    with run_tasks():
        services.create_load_balancer(alice, project_a, lab.subnet, name="lb", protocol="tcp", port=80)
    return lab


@pytest.mark.parametrize("slug", list(RESOURCES))
def test_a_tenant_sees_its_own_rows_and_never_another_tenants(balanced, slug, alice, charlie, project_a, project_b):
    mine = private_rows(slug, project_a, charlie)
    assert row_ids(signed_in(alice, project_a).get(f"/network/{slug}/")) >= mine
    assert not row_ids(signed_in(charlie, project_b).get(f"/network/{slug}/")) & mine


def test_the_ports_list_sorts_searches_and_filters(lab, alice, project_a):
    client = signed_in(alice, project_a)
    ascending = ROW.findall(client.get("/network/ports/?sort=name").content.decode())
    descending = ROW.findall(client.get("/network/ports/?sort=-name").content.decode())
    assert ascending == descending[::-1] and len(ascending) >= 2
    assert row_ids(client.get("/network/ports/?q=app")) == {lab.app.pk}
    assert row_ids(client.get("/network/networks/?state=error")) == set()
    page = client.get("/network/networks/?state=bogus").content.decode()
    assert 'data-error-for="state"' in page and "valid choice" in page


def test_a_bulk_delete_asks_first_and_deletes_only_what_the_user_may_see(lab, alice, charlie, project_a, project_b):
    ids = [lab.db.pk, lab.app.pk]
    outsider = signed_in(charlie, project_b).post("/network/ports/bulk/", {"action": "delete", "selection": ids})
    assert outsider.status_code == 302 and Port.objects.filter(pk__in=ids, state="active").count() == 2
    client = signed_in(alice, project_a)
    asked = client.post("/network/ports/bulk/", {"action": "delete", "selection": ids})
    assert asked.status_code == 200 and 'id="bulk-confirm"' in asked.content.decode()
    assert Port.objects.filter(pk__in=ids).exclude(state="deleting").count() == 2  # nothing yet
    client.post("/network/ports/bulk/", {"action": "delete", "selection": ids, "confirmed": "yes"})
    assert not Port.objects.filter(pk__in=ids).exclude(state="deleting").exists()


def test_a_bulk_delete_names_each_refusal_and_goes_on(lab, alice, project_a):
    # "web" still has ports and a router interface: refused; "bare" goes.
    client = signed_in(alice, project_a)
    response = client.post(
        "/network/networks/bulk/",
        {"action": "delete", "selection": [lab.web.pk, lab.subnet.network_id, lab.bare.network_id], "confirmed": "yes"},
        follow=True,
    )
    page = response.content.decode()
    assert "web:" in page
    assert not Network.objects.filter(pk=lab.bare.network_id).exclude(state="deleting").exists()


def test_a_reader_gets_no_checkboxes_and_an_unknown_action_is_a_400(lab, bob, alice, project_a):
    page = signed_in(bob, project_a).get("/network/ports/").content.decode()
    assert 'name="selection"' not in page and "ports-bulk" not in page
    assert 'name="selection"' in signed_in(alice, project_a).get("/network/ports/").content.decode()
    response = signed_in(alice, project_a).post("/network/ports/bulk/", {"action": "explode", "selection": [1]})
    assert response.status_code == 400
