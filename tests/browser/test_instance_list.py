"""The instance list (django-tables2 + django-filter, as NetBox): sort by a column, search by
name, filter by state, pagination, an IP column with each instance's port addresses, and stop
selected from the checkboxes."""

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.test_storage import StorageApi, alice  # noqa: F401 - alice is a fixture

pytestmark = pytest.mark.browser
IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def names_shown(page):
    return page.locator("#instances tbody tr[data-instance] td[data-field=name] a").all_inner_texts()


def test_the_instance_list_sorts_searches_filters_pages_and_shows_addresses(login):
    page = login("alice")
    page.goto("/compute/instances/")
    api = StorageApi(page)
    tag = uuid.uuid4().hex[:6]
    network = api.first("/api/v1/networks/?search=private")
    flavor = api.first("/api/v1/flavors/?search=m1.tiny")
    image = api.first("/api/v1/images/?search=cirros-demo")
    names = [f"lst-{tag}-{letter}" for letter in "abc"]
    ids = {}
    for name in names:
        body = {"name": name, "flavor": flavor["id"], "image": image["id"], "networks": [network["id"]]}
        api.post("/api/v1/instances/", {"project": network["project"], **body})
        ids[name] = api.first(f"/api/v1/instances/?search={name}")["id"]
    for name in names:
        api.wait(f"/api/v1/instances/{ids[name]}/", "state", "active")

    # Search by name, then stop the second from its checkbox (bulk), then sort by name both
    # ways from the column header.
    page.goto("/compute/instances/")
    page.fill("#instance-filter input[name=q]", f"lst-{tag}")
    page.click("#instance-filter button[type=submit]")
    expect(page.locator("#instances tbody tr[data-instance]")).to_have_count(3)
    page.locator(f"#instances tr[data-instance='{ids[names[1]]}'] input[name=selection]").check()
    page.click("#instances-bulk button[value=stop]")
    expect(page.locator(".flash.success")).to_contain_text(names[1])
    api.wait(f"/api/v1/instances/{ids[names[1]]}/", "state", "shutoff")
    row = page.locator(f"#instances tr[data-instance='{ids[names[1]]}']")
    expect(row.locator("[data-field=state]")).to_have_text("Shut off")  # live, or as the redirect read it
    page.click("#instances thead a:text-is('Name')")
    expect(page.locator("#instances tbody tr[data-instance]").first).to_contain_text(names[0])
    assert names_shown(page) == names
    page.click("#instances thead a:text-is('Name')")
    expect(page.locator("#instances tbody tr[data-instance]").first).to_contain_text(names[2])
    assert names_shown(page) == names[::-1]

    # The IP column: each instance's address on the network, as its port holds it.
    for name in names:
        cell = page.locator(f"#instances tr[data-instance='{ids[name]}'] [data-field=addresses]")
        assert IPV4.match(cell.inner_text().strip()), cell.inner_text()

    # Filter by state (the search kept): only the stopped one.
    page.select_option("#instance-filter select[name=state]", "shutoff")
    page.click("#instance-filter button[type=submit]")
    expect(page.locator("#instances tbody tr[data-instance]")).to_have_count(1)
    assert names_shown(page) == [names[1]]

    # Pagination: two per page, then the next page holds the third.
    page.goto(f"/compute/instances/?q=lst-{tag}&sort=name&per_page=2")
    assert names_shown(page) == names[:2]
    page.click(".pagination a:has-text('Next'), .pagination a:has-text('next')")
    expect(page.locator("#instances tbody tr[data-instance]")).to_have_count(1)
    assert names_shown(page) == names[2:]

    # A state that does not exist is a field error, not a 500 nor a silent empty list.
    response = page.goto("/compute/instances/?state=bogus")
    assert response.status == 200
    expect(page.locator("[data-error-for=state]")).to_contain_text("valid choice")

    for name in names:
        api.delete(f"/api/v1/instances/{ids[name]}/")


def test_a_cloud_admin_sees_another_projects_row_change_without_a_reload(login, alice):
    """admin belongs to no project: alice's instance is another project's row on admin's list."""
    api = StorageApi(alice)
    name = f"cloud-{uuid.uuid4().hex[:6]}"
    network = api.first("/api/v1/networks/?search=private")
    flavor = api.first("/api/v1/flavors/?search=m1.tiny")
    image = api.first("/api/v1/images/?search=cirros-demo")
    body = {"project": network["project"], "name": name, "flavor": flavor["id"], "image": image["id"]}
    api.post("/api/v1/instances/", body)
    instance = api.first(f"/api/v1/instances/?search={name}")
    api.wait(f"/api/v1/instances/{instance['id']}/", "state", "active")

    page = login("admin")
    page.goto(f"/compute/instances/?q={name}")
    row = page.locator(f"#instances tr[data-instance='{instance['id']}']")
    expect(row.locator("[data-field=state]")).to_have_text("Active")
    page.wait_for_function("() => (document.body.dataset.wsSubscribed || '').split(' ').includes('cloud')")
    page.evaluate("window.__noReload = true")

    api.post(f"/api/v1/instances/{instance['id']}/stop/")

    expect(row.locator("[data-field=state]")).to_have_text("Shut off", timeout=30000)
    assert page.evaluate("window.__noReload === true"), "the list reloaded instead of updating"
    api.delete(f"/api/v1/instances/{instance['id']}/")
