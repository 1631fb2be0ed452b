"""Storage through the browser, on a simulated host of its own: a volume's snapshot tree
(a branch after a revert) drawn on its page, and a live move of an attached volume to another
pool whose progress bar rises to done over the websocket, without a reload."""

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_PASSWORD
from tests.browser.test_scheduler import Api, small_node

pytestmark = pytest.mark.browser
LIVE_TIMEOUT_MS = 30000
# Records every value the migrate row's progress bar shows, from the page's first script on.
PROGRESS_RECORDER = """
window.__progress = [];
setInterval(function () {
  const row = Array.from(document.querySelectorAll("tr[data-operation]"))
    .find((r) => r.textContent.includes("volume.migrate"));
  if (!row) return;
  const value = row.querySelector("progress[data-field=progress]").value;
  const status = row.querySelector("[data-field=status]").textContent.trim();
  const last = window.__progress[window.__progress.length - 1];
  if (!last || last[0] !== value || last[1] !== status) window.__progress.push([value, status]);
}, 20);
"""


class StorageApi(Api):
    def delete(self, url):
        response = self.page.request.delete(url, headers=self.headers)
        assert response.ok, f"DELETE {url}: {response.status} {response.text()}"
        return response.json()


@pytest.fixture
def storage_host(login, tmp_path):
    """As the cloud admin: a fresh simulated host, its default pool adopted and a second pool,
    and an instance of acme's running there. Returns names and ids; removes them afterwards."""
    admin = login("admin")
    admin.goto("/storage/pools/")
    api = StorageApi(admin)
    tag = uuid.uuid4().hex[:6]
    cluster = api.post("/api/v1/clusters/", {"name": f"stor-{tag}"})
    name = f"stor-{tag}"
    # Two hosts: HA admission control keeps room for one host failure.
    for host_name in (f"{name}-spare", name):
        api.post(
            "/api/v1/hosts/", {"name": host_name, "uri": small_node(tmp_path, host_name), "cluster": cluster["id"]}
        )
        host = next(h for h in api.get(f"/api/v1/hosts/?search={host_name}")["results"] if h["name"] == host_name)
        api.wait(f"/api/v1/hosts/{host['id']}/", "state", "up")
    pools = {}
    for pool_name, libvirt_name, path in (
        (f"{name}-default", "default", "/var/lib/libvirt/images"),
        (f"{name}-fast", f"fast-{tag}", f"/srv/nubes-browser-{tag}"),
    ):
        op = api.post(
            "/api/v1/storage-pools/",
            {
                "name": pool_name,
                "libvirt_name": libvirt_name,
                "type": "dir",
                "hosts": [host["id"]],
                "target_path": path,
            },
        )
        api.wait(f"/api/v1/operations/{op['id']}/", "status", "succeeded")
        pools[pool_name] = int(op["target_id"])
    project = next(p for p in api.get("/api/v1/projects/")["results"] if p["name"] == "acme")
    op = api.post(
        "/api/v1/instances/",
        {
            "name": f"vm-{tag}",
            "project": project["id"],
            "host": host["id"],
            "flavor": api.first("/api/v1/flavors/?search=m1.tiny")["id"],
            "image": api.first("/api/v1/images/?search=cirros-demo")["id"],
        },
    )
    api.wait(f"/api/v1/operations/{op['id']}/", "status", "succeeded")
    yield {"tag": tag, "host": name, "pools": pools, "instance": f"vm-{tag}", "project": project["id"]}
    for volume in api.get(f"/api/v1/volumes/?search={tag}")["results"]:
        url = f"/api/v1/volumes/{volume['id']}/"
        if volume["instance"]:
            api.wait(f"/api/v1/operations/{api.post(url + 'detach/')['id']}/", "status", "succeeded")
        api.delete(url)
    instance = api.first(f"/api/v1/instances/?search=vm-{tag}")
    op = api.delete(f"/api/v1/instances/{instance['id']}/")
    api.wait(f"/api/v1/operations/{op['id']}/", "status", "succeeded")


@pytest.fixture
def alice(chromium, portal_url):
    context = chromium.new_context(base_url=portal_url)
    page = context.new_page()
    page.set_default_timeout(20000)
    page.goto("/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Dashboard')")
    yield page
    context.close()


def create_volume(page, name, pool):
    page.goto("/storage/")
    form = page.locator("form:has(input[name=size_gb])")  # the list's filter form also has name and pool
    form.locator("input[name=name]").fill(name)
    form.locator("select[name=pool]").select_option(label=pool)
    form.locator("input[name=size_gb]").fill("1")
    form.locator("button").click()
    Api(page).wait(f"/api/v1/volumes/{volume_id(page, name)}/", "state", "available")
    page.goto(f"/storage/volumes/{volume_id(page, name)}/")
    expect(page.locator("h1")).to_contain_text(name)


def volume_id(page, name):
    rows = [v for v in Api(page).get(f"/api/v1/volumes/?search={name}")["results"] if v["name"] == name]
    assert rows, f"no volume {name}"
    return rows[0]["id"]


def settle(page):
    """The tree is drawn by the server: wait for the volume to be idle again, then reload."""
    url = page.url.rstrip("/")
    Api(page).wait(f"/api/v1/volumes/{url.rsplit('/', 1)[1]}/", "state", "available")
    page.reload()


def snapshot(page, name):
    page.fill("form[action$='/snapshot/'] input[name=name]", name)
    page.click("form[action$='/snapshot/'] button")
    settle(page)
    expect(node(page, name)).to_contain_text("available")


def node(page, name):
    return page.locator(f".snapshot-tree li:has(> strong:text-is('{name}'))")


def test_a_volumes_snapshot_tree_shows_a_branch_after_a_revert(alice, storage_host):
    name = f"tree-{storage_host['tag']}"
    create_volume(alice, name, f"{storage_host['host']}-default")
    expect(alice.locator(".snapshot-tree")).to_contain_text("No snapshots.")
    snapshot(alice, "monday")
    snapshot(alice, "tuesday")
    alice.once("dialog", lambda dialog: dialog.accept())  # a revert asks first
    node(alice, "monday").locator(":scope > form[action$='/revert/'] button").click()
    expect(alice.locator("body")).to_contain_text("Started")
    settle(alice)
    snapshot(alice, "wednesday")

    # monday is the root; tuesday and wednesday are its two children; wednesday is current.
    monday = node(alice, "monday")
    expect(alice.locator("h2 + .snapshot-tree > li")).to_have_count(1)
    expect(monday.locator(":scope > ul > li")).to_have_count(2)
    expect(monday.locator(":scope > ul > li > strong")).to_have_text(["tuesday", "wednesday"])
    expect(node(alice, "wednesday")).to_have_class("current")
    expect(node(alice, "tuesday")).not_to_have_class("current")
    expect(monday.locator(":scope > small")).to_contain_text("external")
    snaps = Api(alice).get(f"/api/v1/snapshots/?volume={volume_id(alice, name)}")["results"]
    by_name = {s["name"]: s for s in snaps}
    assert by_name["tuesday"]["parent"] == by_name["wednesday"]["parent"] == by_name["monday"]["id"]


def test_a_live_move_to_another_pool_shows_its_progress_bar_rising_to_done(alice, storage_host):
    name = f"move-{storage_host['tag']}"
    create_volume(alice, name, f"{storage_host['host']}-default")
    alice.select_option("form[action$='/attach/'] select[name=instance]", label=storage_host["instance"])
    alice.click("form[action$='/attach/'] button")
    Api(alice).wait(f"/api/v1/volumes/{volume_id(alice, name)}/", "state", "in-use")

    alice.add_init_script(PROGRESS_RECORDER)
    alice.reload()
    alice.evaluate("window.__noReload = true")
    alice.select_option("form[action$='/migrate/'] select[name=pool]", label=f"{storage_host['host']}-fast")
    alice.click("form[action$='/migrate/'] button")
    alice.wait_for_load_state()
    # The form posts and redirects once; from then on only the websocket updates the page.
    alice.evaluate("window.__noReload = true")
    row = alice.locator("tr[data-operation]").filter(has_text="volume.migrate").first
    expect(row.locator("[data-field=status]")).to_have_text("Succeeded", timeout=LIVE_TIMEOUT_MS)
    expect(row.locator("[data-field=message]")).to_contain_text("simulated block copy")
    assert alice.evaluate("window.__noReload === true"), "the page reloaded instead of updating live"
    assert row.locator("progress").evaluate("bar => bar.value") == 100
    seen = alice.evaluate("window.__progress")
    values = [value for value, _status in seen]
    assert values == sorted(values), seen
    assert any(0 < value < 100 for value, status in seen if status == "Running"), seen
    assert seen[-1] == [100, "Succeeded"], seen
    volume = Api(alice).get(f"/api/v1/volumes/{volume_id(alice, name)}/")
    assert volume["pool"] == storage_host["pools"][f"{storage_host['host']}-fast"]
    assert volume["state"] == "in-use"
