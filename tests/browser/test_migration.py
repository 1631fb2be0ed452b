"""Live migration and live metrics through the browser, on the seeded demo's simulated hosts:
a migration started from the instance page runs to done on the migration page, its progress
bar moving without a reload; the instance's metrics charts gain points without a reload.
Both depend on publishes from the in-process worker's threads reaching the server's websockets."""

import time
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.test_scheduler import Api

pytestmark = pytest.mark.browser
BANDWIDTH_MIB_S = 40  # 512 MiB over the modelled link: about 15 s, long enough to watch
MIGRATION_TIMEOUT_S = 90
METRICS_TIMEOUT_MS = 60_000  # two collections at the default 10 s interval, plus slack
POLL_S = 0.25


def launch(api, name):
    project = next(p for p in api.get("/api/v1/projects/")["results"] if p["name"] == "acme")
    flavor = next(f for f in api.get("/api/v1/flavors/?search=m1.tiny")["results"] if f["name"] == "m1.tiny")
    image = next(i for i in api.get("/api/v1/images/?search=cirros-demo")["results"] if i["name"] == "cirros-demo")
    # host-b's CPU is older than host-a's: its guests can move without a cluster baseline.
    host = next(h for h in api.get("/api/v1/hosts/?search=host-b")["results"] if h["name"] == "host-b")
    api.post(
        "/api/v1/instances/",
        {"project": project["id"], "name": name, "flavor": flavor["id"], "image": image["id"], "host": host["id"]},
    )
    deadline = time.monotonic() + MIGRATION_TIMEOUT_S
    while time.monotonic() < deadline:
        rows = [r for r in api.get(f"/api/v1/instances/?search={name}")["results"] if r["name"] == name]
        if rows and rows[0]["state"] == "active":
            return rows[0]
        time.sleep(POLL_S)
    raise AssertionError(f"{name} did not become active")


def open_instance(page, instance):
    page.goto(f"/compute/instances/{instance['id']}/")
    group = f"compute.instance.{instance['id']}"
    page.wait_for_function(f"() => (document.body.dataset.wsSubscribed || '').split(' ').includes('{group}')")
    page.evaluate("window.__noReload = true")


def test_a_migration_started_on_the_instance_page_runs_to_done_on_the_migration_page(login):
    page = login("admin")
    api = Api(page)
    instance = launch(api, f"mig-{uuid.uuid4().hex[:6]}")
    open_instance(page, instance)
    form = page.locator("#instance-migration form")
    form.locator("input[name=bandwidth_mib_s]").fill(str(BANDWIDTH_MIB_S))
    form.locator("input[name=auto_converge]").check()
    form.locator("button").click()
    page.wait_for_load_state()
    assert "/compute/migrations/" in page.url, f"not started: {page.locator('main').inner_text()[:600]}"
    page.evaluate("window.__noReload = true")
    panel = page.locator(".migration-live")
    seen, deadline = [], time.monotonic() + MIGRATION_TIMEOUT_S
    while time.monotonic() < deadline:
        state = panel.get_attribute("data-state")
        seen.append(panel.locator("progress").evaluate("e => e.value"))
        if state in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(POLL_S)
    assert state == "succeeded", f"migration ended {state}: {panel.inner_text()}"
    assert seen[-1] == 100
    moving = sorted({v for v in seen if 0 < v < 100})
    assert len(moving) >= 2, f"the bar did not move live: {seen}"
    assert int(panel.locator(".migration-chart").get_attribute("data-points") or 0) >= 2
    assert page.evaluate("window.__noReload === true"), "the page reloaded instead of updating live"
    moved = api.get(f"/api/v1/instances/{instance['id']}/")
    assert moved["host"] != instance["host"] and moved["state"] == "active"


def test_an_instance_s_metrics_charts_gain_points_without_a_reload(login):
    page = login("admin")
    instance = launch(Api(page), f"met-{uuid.uuid4().hex[:6]}")
    open_instance(page, instance)
    chart = page.locator("#instance-live .live-chart").first
    expect(chart).to_have_attribute("data-ready", "1")
    page.wait_for_function(
        "() => Number(document.querySelector('#instance-live .live-chart').dataset.points || 0) >= 2",
        timeout=METRICS_TIMEOUT_MS,
    )
    assert page.evaluate("window.__noReload === true")


@pytest.fixture
def target_pools(login):
    """An active pool on host-a and one on host-c (the demo's own pools stay 'defining' in the
    embedded portal: the seed's tasks never run), named after their host; removed afterwards."""
    page = login("admin")
    api, tag, pools = Api(page), uuid.uuid4().hex[:6], {}
    for host_name in ("host-a", "host-c"):
        host = next(h for h in api.get(f"/api/v1/hosts/?search={host_name}")["results"] if h["name"] == host_name)
        name = f"{host_name}-pick-{tag}"
        op = api.post(
            "/api/v1/storage-pools/",
            {
                "name": name,
                "libvirt_name": name,
                "type": "dir",
                "hosts": [host["id"]],
                "target_path": f"/srv/nubes-browser-{name}",
            },
        )
        api.wait(f"/api/v1/operations/{op['id']}/", "status", "succeeded")
        pools[host_name] = (name, int(op["target_id"]))
    yield page, {host_name: name for host_name, (name, _pk) in pools.items()}
    for _name, pk in pools.values():
        response = page.request.delete(f"/api/v1/storage-pools/{pk}/", headers=api.headers)
        assert response.ok, response.text()


def enabled_pools(page):
    """The target pool options a user can pick, by host (optgroup)."""
    return page.evaluate("""() => Object.fromEntries(Array.from(
        document.querySelectorAll('#instance-migration select[name=target_pool] optgroup'))
        .filter((group) => !group.disabled && !group.hidden)
        .map((group) => [group.label, Array.from(group.querySelectorAll('option')).map((o) => o.value)]))""")


def test_picking_a_target_leaves_only_its_pools_in_the_migrate_form(target_pools):
    page, pools = target_pools
    instance = launch(Api(page), f"pool-{uuid.uuid4().hex[:6]}")  # on host-b: host-a and host-c are targets
    open_instance(page, instance)
    form = page.locator("#instance-migration form")
    pool_select = form.locator("select[name=target_pool]")
    everyone = enabled_pools(page)
    assert pools["host-a"] in everyone["host-a"] and pools["host-c"] in everyone["host-c"], everyone
    pool_select.select_option(pools["host-c"])

    form.locator("select[name=target_host]").select_option(label="host-a")

    assert list(enabled_pools(page)) == ["host-a"]
    assert pool_select.evaluate("select => select.value") == "", "host-c's pool stayed chosen for host-a"
    pool_select.select_option(pools["host-a"])
    form.locator("select[name=target_host]").select_option(label="scheduler's choice")
    assert enabled_pools(page) == everyone  # the scheduler may pick any target
    assert pool_select.evaluate("select => select.value") == pools["host-a"]


def test_a_migration_page_opened_while_its_socket_is_away_shows_how_it_ended(login):
    """The migration's page joins its group late (its socket kept away while the migration runs
    and ends): once joined it reads the migration once, so the panel shows the end it missed."""
    from tests.browser.test_lists import SOCKETS_AWAY

    page = login("admin")
    api = Api(page)
    instance = launch(api, f"late-{uuid.uuid4().hex[:6]}")
    api.post("/api/v1/migrations/", {"instance": instance["id"], "bandwidth_mib_s": BANDWIDTH_MIB_S})
    migration = next(m for m in api.get("/api/v1/migrations/")["results"] if m["instance"] == instance["id"])
    page.add_init_script(SOCKETS_AWAY + "window.__wsAway = true;")
    page.goto(f"/compute/migrations/{migration['id']}/")
    panel = page.locator(".migration-live")
    drawn = panel.get_attribute("data-state")
    assert drawn in ("queued", "running"), f"the migration had ended before its page was drawn: {drawn}"
    deadline = time.monotonic() + MIGRATION_TIMEOUT_S
    while api.get(f"/api/v1/migrations/{migration['id']}/")["state"] != "succeeded":
        assert time.monotonic() < deadline, "the migration did not succeed"
        time.sleep(POLL_S)
    assert panel.get_attribute("data-state") == drawn  # nothing heard while away
    page.evaluate("window.__noReload = true; window.__wsAway = false")
    expect(panel).to_have_attribute("data-state", "succeeded", timeout=30_000)
    expect(panel.locator("[data-mfield=percent-text]").first).to_have_text("100%")
    assert page.evaluate("window.__noReload === true")


def test_an_instance_page_whose_socket_was_lost_shows_what_happened_meanwhile(login):
    """The instance card reads its instance again after every join, a reconnect's too: a stop
    made while the page's socket was lost shows once the page is back."""
    from tests.browser.test_lists import SOCKETS_AWAY

    page = login("admin")
    api = Api(page)
    instance = launch(api, f"lost-{uuid.uuid4().hex[:6]}")
    page.add_init_script(SOCKETS_AWAY)
    open_instance(page, instance)
    state = page.locator("#instance-state")
    expect(state).to_have_attribute("data-state", "active")
    # The read after the first join, answered late, would show the stop made after going away.
    page.wait_for_function("() => Number(document.getElementById('instance').dataset.caughtUp || 0) >= 1")
    page.evaluate("window.__wsAway = true; document.body.dataset.wsSubscribed = ''; window.__wsDrop()")
    page.wait_for_function("() => document.body.dataset.ws === 'closed'")
    api.post(f"/api/v1/instances/{instance['id']}/stop/")
    deadline = time.monotonic() + MIGRATION_TIMEOUT_S
    while api.get(f"/api/v1/instances/{instance['id']}/")["state"] != "shutoff":
        assert time.monotonic() < deadline, "the instance did not stop"
        time.sleep(POLL_S)
    expect(state).to_have_attribute("data-state", "active")  # nothing heard while away
    page.evaluate("window.__wsAway = false")
    expect(state).to_have_attribute("data-state", "shutoff", timeout=30_000)
    assert page.evaluate("window.__noReload === true")
