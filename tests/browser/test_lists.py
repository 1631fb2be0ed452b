"""The volume list in the browser: a volume made elsewhere (the API) appears and turns
Available on a list that is never reloaded (the table re-reads itself when an operation on a
volume moves), and delete selected asks on a confirmation page before anything goes."""

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.test_compute import wait_for_project_stream
from tests.browser.test_storage import StorageApi

pytestmark = pytest.mark.browser
LIVE_TIMEOUT_MS = 30000  # as test_storage.py: the same volume Operations, on a machine running three suites at once


def watched(login, url):
    """alice on `url`, joined to her project's stream, marked so that a reload would show."""
    page = login("alice")
    page.goto(url)
    wait_for_project_stream(page)
    page.evaluate("window.__noReload = true")
    return page, StorageApi(page), StorageApi(page).first("/api/v1/networks/?search=private")["project"]


def test_volume_rows_follow_their_operations_and_delete_selected_asks_first(login):
    page, api, project = watched(login, "/storage/")
    tag = uuid.uuid4().hex[:6]
    pool = page.locator("#volume-create select[name=pool] option:not([value=''])").first.get_attribute("value")
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


def test_the_operations_images_and_snapshots_lists_filter_and_operations_arrive_live(login):
    page, api, project = watched(login, "/operations/")
    name = f"oplist-{uuid.uuid4().hex[:6]}"
    pool = api.first("/api/v1/storage-pools/")["id"]
    api.post("/api/v1/volumes/", {"project": project, "name": name, "pool": pool, "size_gb": 1})
    row = page.locator("#operations tbody tr[data-operation]").filter(has_text=name)
    expect(row.locator("[data-field=status]")).to_have_text("Succeeded", timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.__noReload === true")

    page.fill("#operation-filter input[name=q]", name)
    page.select_option("#operation-filter select[name=status]", "failed")
    page.click("#operation-filter button[type=submit]")
    expect(page.locator("#operations tbody tr[data-operation]")).to_have_count(0)
    page.select_option("#operation-filter select[name=status]", "succeeded")
    page.click("#operation-filter button[type=submit]")
    expect(page.locator("#operations tbody tr[data-operation]")).to_have_count(1)

    page.goto("/compute/images/?q=cirros-demo")
    expect(page.locator("#images tbody tr[data-id]").first).to_contain_text("GiB")
    volume = api.first(f"/api/v1/volumes/?search={name}")
    taken = api.post(f"/api/v1/volumes/{volume['id']}/snapshot/", {"name": f"{name}-snap"})
    api.wait(f"/api/v1/operations/{taken['id']}/", "status", "succeeded")
    page.goto(f"/storage/snapshots/?q={name}")
    row = page.locator("#snapshots tbody tr[data-id]").filter(has_text=f"{name}-snap")
    expect(row.locator("[data-field=state]")).to_have_text("Available")
    expect(row.locator(f"a[href='/storage/volumes/{volume['id']}/']")).to_have_count(1)
    api.delete(f"/api/v1/volumes/{volume['id']}/")


def test_a_volume_page_follows_its_operation_without_a_reload(login):
    page, api, project = watched(login, "/storage/")
    name = f"grow-{uuid.uuid4().hex[:6]}"
    pool = api.first("/api/v1/storage-pools/")["id"]
    api.post("/api/v1/volumes/", {"project": project, "name": name, "pool": pool, "size_gb": 1})
    volume = api.first(f"/api/v1/volumes/?search={name}")
    api.wait(f"/api/v1/volumes/{volume['id']}/", "state", "available")
    page.goto(f"/storage/volumes/{volume['id']}/")
    wait_for_project_stream(page)
    page.evaluate("window.__noReload = true")
    facts = page.locator("#volume-facts")
    expect(facts).to_contain_text("1 GiB")
    api.post(f"/api/v1/volumes/{volume['id']}/resize/", {"size_gb": 2})
    expect(page.locator("#volume-facts")).to_contain_text("2 GiB", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#volume-facts [data-field=state]")).to_have_text("Available", timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.__noReload === true"), "the volume page reloaded instead of updating"
    api.delete(f"/api/v1/volumes/{volume['id']}/")


# Every websocket the page opens goes through this: while window.__wsAway is set, a new socket
# asks for a path the portal does not serve (it fails and realtime.js retries, backing off), and
# window.__wsDrop() closes the open one as a lost connection would.
SOCKETS_AWAY = """
(() => {
  const Real = window.WebSocket;
  let last = null;
  window.WebSocket = function (url, protocols) {
    last = new Real(window.__wsAway ? url.replace("/ws/", "/ws-away/") : url, protocols);
    return last;
  };
  window.WebSocket.OPEN = Real.OPEN;
  window.__wsDrop = () => last && last.close();
})();
"""


def caught_up(page, block):
    """Wait for the read every live block makes after its first join: answered late (a busy
    machine), it would show what was made after the socket went away."""
    page.wait_for_function(f"() => Number(document.querySelector('{block}').dataset.refreshed || 0) >= 1")


def away(page):
    """The page's socket dropped and kept away, and no read of a live block waiting or under way:
    one asked before (another group's join) but answered after the next change would show it."""
    page.evaluate("window.__wsAway = true; document.body.dataset.wsSubscribed = ''; window.__wsDrop()")
    page.wait_for_function("() => document.body.dataset.ws === 'closed'")
    page.wait_for_function("() => (document.body.dataset.liveReads || '0') === '0'")


def test_a_list_catches_up_on_what_moved_while_its_socket_was_away(login):
    """Events are not replayed to a page that joins late, after rendering or after a lost socket:
    the list reads itself again once it has joined, so a volume deleted while the page heard
    nothing still leaves the list without a reload."""
    page = login("alice")
    page.add_init_script(SOCKETS_AWAY)
    page, api, project = watched(lambda _user: page, "/storage/")
    pool = page.locator("#volume-create select[name=pool] option:not([value=''])").first.get_attribute("value")
    name = f"away-{uuid.uuid4().hex[:6]}"
    made = api.post("/api/v1/volumes/", {"project": project, "name": name, "pool": int(pool), "size_gb": 1})
    api.wait(f"/api/v1/operations/{made['id']}/", "status", "succeeded")
    row = page.locator("#volumes tbody tr").filter(has_text=name)
    expect(row.locator("[data-field=state]")).to_have_text("Available", timeout=LIVE_TIMEOUT_MS)
    caught_up(page, "#volumes")

    away(page)
    volume = api.first(f"/api/v1/volumes/?search={name}")
    gone = api.delete(f"/api/v1/volumes/{volume['id']}/")
    api.wait(f"/api/v1/operations/{gone['id']}/", "status", "succeeded")
    expect(row).to_have_count(1)  # nothing heard while away
    page.evaluate("window.__wsAway = false")
    wait_for_project_stream(page)
    expect(row).to_have_count(0, timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.__noReload === true"), "the list reloaded instead of reading itself"


def test_the_dashboards_operations_catch_up_after_the_socket_was_away(login):
    """Tables whose rows follow their own events (recent operations, HA events, migrations) are
    marked data-live-rejoin: read once after each join, like the lists."""
    page = login("alice")
    page.add_init_script(SOCKETS_AWAY)
    page, api, project = watched(lambda _user: page, "/")
    caught_up(page, "#recent-operations")
    away(page)
    name = f"dash-{uuid.uuid4().hex[:6]}"
    pool = api.first("/api/v1/storage-pools/")["id"]
    made = api.post("/api/v1/volumes/", {"project": project, "name": name, "pool": pool, "size_gb": 1})
    api.wait(f"/api/v1/operations/{made['id']}/", "status", "succeeded")
    row = page.locator("#recent-operations tbody tr").filter(has_text=name)
    expect(row).to_have_count(0)  # nothing heard while away
    page.evaluate("window.__wsAway = false")
    wait_for_project_stream(page)
    expect(row.locator("[data-field=status]")).to_have_text("Succeeded", timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.__noReload === true"), "the dashboard reloaded instead of reading itself"
    api.delete(f"/api/v1/volumes/{api.first(f'/api/v1/volumes/?search={name}')['id']}/")
