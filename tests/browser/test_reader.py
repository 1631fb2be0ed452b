"""A reader (bob, acme reader) sees the instance, volume and network lists and pages with no
control that changes anything (forms, buttons), as the instance page already did; alice (acme
member) sees those controls on the same pages, so each check can fail."""

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.browser.test_storage import StorageApi

pytestmark = pytest.mark.browser

# What a writer sees on each page and a reader must not.
CONTROLS = {
    "/compute/instances/": "text=Launch instance",
    "/storage/": "#volume-create",
    "/network/networks/": "button:has-text('New')",
}


@pytest.fixture
def bob(chromium, portal_url):
    context = chromium.new_context(base_url=portal_url)
    page = context.new_page()
    page.set_default_timeout(20000)
    yield sign_in(page, "bob")
    context.close()


def write_forms(page):
    """Forms that POST in the page's content (the shell's sign-out and project switch are outside <main>)."""
    return page.locator("main form[method=post]")


def test_a_reader_sees_no_write_controls_on_the_lists(login, bob):
    alice = login("alice")
    for url, control in CONTROLS.items():
        alice.goto(url)
        expect(alice.locator(control).first).to_be_visible()
        bob.goto(url)
        expect(bob.locator("h1")).to_be_visible()
        expect(bob.locator(control)).to_have_count(0)
        expect(write_forms(bob)).to_have_count(0)
    # The network list has rows (acme's seeded "private"): alice may delete it, bob may not.
    alice.goto("/network/networks/")
    expect(alice.locator("#networks [data-delete]").first).to_be_visible()
    bob.goto("/network/networks/")
    expect(bob.locator("#networks tbody tr:not(.empty)").first).to_be_visible()
    expect(bob.locator("#networks [data-delete], #networks [data-edit]")).to_have_count(0)
    # The launch form itself is refused, not shown to fail later.
    assert bob.goto("/compute/instances/launch/").status == 403


def test_a_reader_sees_a_volume_page_without_actions_and_a_delete_asks_first(login, bob):
    alice = login("alice")
    name = f"readable-{uuid.uuid4().hex[:6]}"
    alice.goto("/storage/")
    pool = alice.locator("#volume-create select[name=pool] option:not([value=''])").first.get_attribute("value")
    alice.fill("#volume-create input[name=name]", name)
    alice.select_option("#volume-create select[name=pool]", value=pool)
    alice.fill("#volume-create input[name=size_gb]", "1")
    alice.click("#volume-create button")
    alice.locator(f"#volumes a:text-is('{name}')").click()
    expect(alice.locator("#volume-actions form")).not_to_have_count(0)
    volume_url = alice.url

    bob.goto(volume_url)
    expect(bob.locator("h1")).to_contain_text(name)
    expect(bob.locator("#volume-actions")).to_have_count(0)
    expect(write_forms(bob)).to_have_count(0)

    # Delete asks first (dismissed: still there), then goes.
    alice.once("dialog", lambda dialog: dialog.dismiss())
    alice.click("form[action$='/delete/'] button")
    expect(alice.locator("h1")).to_contain_text(name)
    alice.once("dialog", lambda dialog: dialog.accept())
    alice.click("form[action$='/delete/'] button")
    expect(alice.locator(".flash").first).to_be_visible()


def test_deleting_a_network_from_its_list_asks_first(login):
    alice = login("alice")
    alice.goto("/network/networks/")
    api = StorageApi(alice)
    name = f"asked-{uuid.uuid4().hex[:6]}"
    network = api.post("/api/v1/networks/", {"name": name})
    api.wait(f"/api/v1/networks/{network['id']}/", "state", "active")
    alice.goto("/network/networks/")
    row = alice.locator(f"#networks tr[data-id='{network['id']}']")
    alice.once("dialog", lambda dialog: dialog.dismiss())
    row.locator("[data-delete]").click()
    expect(row).to_have_count(1)
    assert api.get(f"/api/v1/networks/{network['id']}/")["name"] == name  # dismissed: nothing sent
    alice.once("dialog", lambda dialog: dialog.accept())
    row.locator("[data-delete]").click()
    expect(alice.locator(".flash").first).to_be_visible()
    for _ in range(100):  # accepted: the network goes (its delete runs as an Operation)
        if not alice.request.get(f"/api/v1/networks/?search={name}").json()["results"]:
            break
        alice.wait_for_timeout(200)
    assert alice.request.get(f"/api/v1/networks/?search={name}").json()["results"] == []
