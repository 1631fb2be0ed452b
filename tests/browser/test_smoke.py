"""The platform seen through a real browser: sign in, dashboard, API token, live operation."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_a_member_signs_in_and_sees_the_dashboard(login):
    page = login("alice")
    expect(page.locator(".project-switch select")).to_contain_text("acme")
    expect(page.locator(".role")).to_have_text("member")


def test_a_wrong_password_shows_a_form_error(page):
    page.goto("/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("correct username and password")


def test_a_member_creates_an_api_token_and_sees_it_once(login):
    page = login("alice")
    page.click("text=API tokens")
    page.fill("input[name=name]", "laptop")
    page.click("button:has-text('Create token')")
    token = page.locator("[data-testid=new-token]").inner_text()
    assert token.startswith("nubes_")
    expect(page.locator("table")).to_contain_text("laptop")
    page.reload()
    expect(page.locator("[data-testid=new-token]")).to_have_count(0)


def test_an_operations_progress_arrives_over_the_websocket(login):
    page = login("alice")
    page.wait_for_function(
        "() => document.body.dataset.wsSubscribed && document.body.dataset.wsSubscribed.includes('project.')"
    )
    page.evaluate("window.__noReload = true")
    page.click("#recount")
    row = page.locator("tr[data-operation]").filter(has_text="project.recount_quota").first
    expect(row.locator("[data-field=status]")).to_have_text("Succeeded")
    expect(page.locator("#toasts")).to_contain_text("succeeded")
    assert page.evaluate("window.__noReload === true"), "the page reloaded instead of updating live"
