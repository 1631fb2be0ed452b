"""An instance's life through the browser, on the seeded demo's simulated hosts: launch from
the form, watch it become active over the websocket, open its console, stop it, delete it."""

import uuid

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
LIVE_TIMEOUT_MS = 20000


def wait_for_project_stream(page):
    page.wait_for_function(
        "() => document.body.dataset.wsSubscribed && document.body.dataset.wsSubscribed.includes('project.')"
    )


def instances_named(page, name):
    response = page.request.get(f"/api/v1/instances/?search={name}")
    assert response.ok, response.text()
    return [row for row in response.json()["results"] if row["name"] == name]


def test_a_member_launches_watches_consoles_stops_and_deletes_an_instance(login):
    launcher = login("alice")
    name = f"web-{uuid.uuid4().hex[:6]}"
    # A second tab on the instance list, never reloaded: the new row arrives over the websocket.
    watcher = launcher.context.new_page()
    watcher.goto("/compute/instances/")
    wait_for_project_stream(watcher)
    watcher.evaluate("window.__noReload = true")

    launcher.goto("/compute/instances/launch/")
    launcher.fill("input[name=name]", name)
    launcher.select_option("select[name=flavor]", label="m1.tiny")
    launcher.select_option("select[name=image]", label="cirros-demo")
    launcher.click("#launch-form button[type=submit]")
    expect(launcher.locator("h1")).to_have_text(name)

    row = watcher.locator("#instances tr").filter(has_text=name)
    expect(row.locator("[data-field=state]")).to_have_text("Active", timeout=LIVE_TIMEOUT_MS)
    expect(row.locator("[data-field=power_state]")).to_have_text("Running")
    assert watcher.evaluate("window.__noReload === true"), "the list reloaded instead of updating live"

    # The detail page: live state and the serial console panel, which on a simulated host
    # says there is no guest to show.
    expect(launcher.locator("#instance-state")).to_have_text("Active", timeout=LIVE_TIMEOUT_MS)
    expect(launcher.locator("#console")).to_contain_text("no console output")
    expect(launcher.locator("#console")).to_contain_text("simulated host")
    expect(launcher.locator("#vnc")).to_have_attribute("data-vnc-state", "refused")
    expect(launcher.locator("#vnc-message")).to_contain_text("there is no graphical console")

    launcher.click("form[action$='/stop/']:not(:has(input[name=force])) button")
    expect(launcher.locator("#instance-state")).to_have_text("Shut off", timeout=LIVE_TIMEOUT_MS)
    expect(row.locator("[data-field=state]")).to_have_text("Shut off", timeout=LIVE_TIMEOUT_MS)

    launcher.once("dialog", lambda dialog: dialog.accept())
    launcher.click("form[action$='/delete/'] button")
    expect(row).to_have_count(0, timeout=LIVE_TIMEOUT_MS)  # a deleted instance leaves the list
    assert watcher.evaluate("window.__noReload === true")
    assert instances_named(launcher, name) == []


def test_a_name_with_a_control_character_is_a_form_error_and_creates_nothing(login):
    page = login("alice")
    name = f"bad\tname-{uuid.uuid4().hex[:6]}"
    page.goto("/compute/instances/launch/")
    page.fill("input[name=name]", name)
    page.select_option("select[name=flavor]", label="m1.tiny")
    page.select_option("select[name=image]", label="cirros-demo")
    page.click("#launch-form button[type=submit]")
    expect(page.locator("[data-error-for=name]")).to_contain_text("control characters")
    expect(page.locator("h1")).to_contain_text("Launch an instance")
    assert instances_named(page, name.split("\t")[1]) == []
    assert not any("\t" in row["name"] for row in page.request.get("/api/v1/instances/").json()["results"])
