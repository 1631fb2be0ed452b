"""The instance list's tenancy and bulk actions: a tenant never sees another's instances nor
acts on them by posting their ids; start and stop selected run per instance, each refusal
named; delete selected asks on a page first; readers get no checkboxes."""

import re

from compute.choices import InstanceState
from compute.models import Instance
from tests.list_pages import row_ids, signed_in

ROW = re.compile(r'data-instance="(\d+)"')


def shown(client, query=""):
    return row_ids(client, f"/compute/instances/{query}", ROW)


def test_a_tenant_sees_its_instances_and_never_another_tenants(alice, charlie, launch):
    _, mine = launch("alice", name="mine")
    _, theirs = launch("charlie", name="theirs")
    assert shown(signed_in(alice)) == {mine.pk}
    assert shown(signed_in(charlie)) == {theirs.pk}
    assert shown(signed_in(charlie), "?q=mine") == set()


def test_stop_then_start_selected_acts_on_each_and_names_a_refusal(alice, launch, run_tasks):
    _, one = launch("alice", name="one")
    _, two = launch("alice", name="two")
    client = signed_in(alice)
    with run_tasks():
        client.post("/compute/instances/bulk/", {"action": "stop", "selection": [one.pk, two.pk]})
    assert set(Instance.objects.values_list("state", flat=True)) == {InstanceState.SHUTOFF}
    with run_tasks():
        client.post("/compute/instances/bulk/", {"action": "start", "selection": [one.pk]})
    with run_tasks():
        response = client.post(
            "/compute/instances/bulk/", {"action": "start", "selection": [one.pk, two.pk]}, follow=True
        )
    page = response.content.decode()
    assert "one: Cannot start" in page and "Start: two." in page  # one was running already
    assert set(Instance.objects.values_list("state", flat=True)) == {InstanceState.ACTIVE}


def test_delete_selected_asks_first_and_touches_only_what_the_user_sees(alice, charlie, launch, run_tasks):
    _, mine = launch("alice", name="mine")
    outsider = signed_in(charlie)
    with run_tasks():
        outsider.post("/compute/instances/bulk/", {"action": "delete", "selection": [mine.pk], "confirmed": "yes"})
    mine.refresh_from_db()
    assert mine.state == InstanceState.ACTIVE
    client = signed_in(alice)
    asked = client.post("/compute/instances/bulk/", {"action": "delete", "selection": [mine.pk]})
    assert 'id="bulk-confirm"' in asked.content.decode() and "mine" in asked.content.decode()
    mine.refresh_from_db()
    assert mine.state == InstanceState.ACTIVE
    with run_tasks():
        client.post("/compute/instances/bulk/", {"action": "delete", "selection": [mine.pk], "confirmed": "yes"})
    assert shown(client) == set()


def test_a_reader_gets_no_checkboxes(alice, bob, launch):
    launch("alice")
    assert 'name="selection"' in signed_in(alice).get("/compute/instances/").content.decode()
    page = signed_in(bob).get("/compute/instances/").content.decode()
    assert 'name="selection"' not in page and "instances-bulk" not in page


def test_a_bulk_action_returns_to_the_list_as_it_was_filtered_and_nowhere_else(alice, launch, run_tasks):
    _, one = launch("alice", name="one")
    client = signed_in(alice)
    page = client.get("/compute/instances/?q=on&sort=name").content.decode()
    assert 'name="next" value="/compute/instances/?q=on&amp;sort=name"' in page
    with run_tasks():
        back = client.post(
            "/compute/instances/bulk/",
            {"action": "stop", "selection": [one.pk], "next": "/compute/instances/?q=on&sort=name"},
        )
    assert back.status_code == 302 and back["Location"] == "/compute/instances/?q=on&sort=name"
    asked = client.post(
        "/compute/instances/bulk/", {"action": "delete", "selection": [one.pk], "next": "/compute/instances/?q=on"}
    )
    assert 'name="next" value="/compute/instances/?q=on"' in asked.content.decode()  # kept through the question
    for elsewhere in ("https://evil.example/compute/instances/", "/storage/?q=on", "//evil.example/compute/instances/"):
        with run_tasks():
            back = client.post(
                "/compute/instances/bulk/", {"action": "start", "selection": [one.pk], "next": elsewhere}
            )
        assert back["Location"] == "/compute/instances/", elsewhere
