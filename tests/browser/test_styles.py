"""Hardening (issue 18), styles under the Content-Security-Policy without 'unsafe-inline': the
pages whose inline styles moved into files look as before, and the API docs and Django's admin
(whose templates had a style element) load with nothing refused (the `page` fixture fails a
test on any refusal Chromium reports)."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_csp_styles_form_cards_keep_their_width_from_the_stylesheet(login):
    page = login("alice")
    page.goto("/compute/keypairs/new/")
    card = page.locator("section.card.w640")
    expect(card).to_be_visible()
    assert card.evaluate("e => getComputedStyle(e).maxWidth") == "640px"
    nav = page.locator("nav.actions.spaced").first
    assert nav.evaluate("e => getComputedStyle(e).marginBottom") != "0px"


def test_csp_styles_api_docs_and_admin_load_without_a_refusal(login):
    page = login("admin")
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_be_visible(timeout=30000)
    assert page.locator("body").evaluate("e => getComputedStyle(e).marginTop") == "0px"  # swagger_ui.css
    page.goto("/admin/compute/keypair/")
    expect(page.locator("#changelist")).to_be_visible()
