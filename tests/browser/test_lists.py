"""The volume list in the browser: a volume made elsewhere (the API) appears and turns
Available on a list that is never reloaded (the table re-reads itself when an operation on a
volume moves), and delete selected asks on a confirmation page before anything goes."""

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.test_compute import wait_for_project_stream
from tests.browser.test_storage import StorageApi

pytestmark = pytest.mark.browser
LIVE_TIMEOUT_MS = 20000


def test_volume_rows_follow_their_operations_and_delete_selected_asks_first(login):
    page = login("alice")
    page.goto("/storage/")
    wait_for_project_stream(page)
    page.evaluate("window.__noReload = true")
    api = StorageApi(page)
    tag = uuid.uuid4().hex[:6]
    pool = page.locator("#volume-create select[name=pool] option:not([value=''])").first.get_attribute("value")
    project = api.first("/api/v1/networks/?search=private")["project"]
    names = [f"vol-{tag}-{n}" for n in range(2)]
    for name in names:
        api.post("/api/v1/volumes/", {"project": project, "name": name, "pool": int(pool), "size_gb": 1})

    rows = [page.locator("#volumes tbody tr").filter(has_text=name) for name in names]
    for row in rows:
        expect(row.locator("[data-field=state]")).to_have_text("Available", timeout=LIVE_TIMEOUT_MS)
        expect(row).to_contain_text("1 GiB")
    assert page.evaluate("window.__noReload === true"), "the list reloaded instead of updating"

    for row in rows:
        row.locator("input[name=selection]").check()
    page.click("#volumes-bulk button[value=delete]")
    confirm = page.locator("#bulk-confirm")
    for name in names:
        expect(confirm).to_contain_text(name)
    assert all(api.get(f"/api/v1/volumes/?search={name}")["results"] for name in names)  # nothing yet
    confirm.locator("button[type=submit]").click()
    expect(page.locator(".flash.success")).to_contain_text(names[0])
    for row in rows:
        expect(row).to_have_count(0, timeout=LIVE_TIMEOUT_MS)
