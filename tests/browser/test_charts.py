"""The instance page's metrics charts: a time axis over the chosen range in hours and minutes
(not Plotly's Jan-Nov 2000), byte rates with their unit, and the 1 h / 6 h / 24 h / 7 d
selector."""

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.test_pages import launched

pytestmark = pytest.mark.browser
DISK = 2  # the third chart: disk read / write B/s
SPAN = """() => {
  const range = document.querySelectorAll('#instance-live .live-chart')[2].layout.xaxis.range;
  return (Date.parse(range[1]) - Date.parse(range[0])) / 1000;
}"""


def test_the_charts_span_the_chosen_range_with_units_on_their_axes(login):
    page = login("alice")
    page.goto("/compute/instances/")
    _, instance = launched(page, f"chart-{uuid.uuid4().hex[:6]}")
    page.goto(f"/compute/instances/{instance['id']}/")
    disk = page.locator("#instance-live .live-chart").nth(DISK)
    expect(disk).to_have_attribute("data-ready", "1")
    expect(disk.locator(".xtick text").first).to_be_visible()

    assert page.evaluate(SPAN) == 3600
    hours = disk.locator(".xtick text").all_text_contents()
    assert hours and all(re.fullmatch(r"\d\d:\d\d", tick) for tick in hours), hours
    assert any(tick.endswith("B/s") for tick in disk.locator(".ytick text").all_text_contents())
    expect(page.locator(".chart-ranges a.current")).to_have_text("1 h")

    page.click(".chart-ranges a[data-range='7d']")
    expect(page).to_have_url(re.compile(r"\?range=7d"))
    expect(disk).to_have_attribute("data-range-s", str(7 * 86400))
    expect(disk).to_have_attribute("data-ready", "1")
    expect(page.locator(".chart-ranges a.current")).to_have_text("7 d")
    assert page.evaluate(SPAN) == 7 * 86400
    days = disk.locator(".xtick text").all_text_contents()
    assert days and not any("2000" in tick for tick in days), days
