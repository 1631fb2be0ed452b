"""A cloud admin keeps alarm rules on pages: a bad rule shows its error next to the field and
keeps what was typed; a good one is listed, edited, and deleted after a confirmation."""

import uuid

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_an_admin_creates_corrects_edits_and_deletes_an_alarm_rule(login):
    page = login("admin")
    name = f"hot-{uuid.uuid4().hex[:6]}"
    page.goto("/compute/alarms/")
    page.click("text=Manage alarm rules")
    page.click("text=New alarm rule")
    page.fill("input[name=name]", name)
    page.select_option("select[name=scope]", "host")
    page.select_option("select[name=metric]", "disk_read_bps")  # an instance metric: refused for hosts
    page.fill("input[name=threshold]", "80")
    page.click("#alarm-rule-form button[type=submit]")

    expect(page.locator("[data-error-for=metric]")).to_contain_text("A host metric is one of")
    expect(page.locator("input[name=name]")).to_have_value(name)
    page.select_option("select[name=metric]", "cpu_pct")
    page.click("#alarm-rule-form button[type=submit]")

    row = page.locator("#alarm-rules tbody tr").filter(has_text=name)
    expect(row).to_contain_text("cpu_pct > 80.0")
    expect(row).to_contain_text("cloud-wide")
    row.locator("a").first.click()
    page.fill("input[name=threshold]", "95")
    page.click("#alarm-rule-form button[type=submit]")
    expect(row).to_contain_text("cpu_pct > 95.0")

    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button.danger").click()
    expect(page.locator(".flash")).to_contain_text(f"Deleted alarm rule {name}")
    expect(row).to_have_count(0)
