"""The README's screenshots: the dashboard, the instance list, an instance's page and the launch
form, as alice sees them. Every run checks that these pages render; only with
NUBES_SCREENSHOTS=1 does it write the PNGs into docs/screenshots/ (so CI leaves the tree clean):

    NUBES_SCREENSHOTS=1 .venv/bin/python -m pytest tests/browser/test_screenshots.py
"""

import os
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.test_pages import launched

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}


def shoot(page, name):
    if os.environ.get("NUBES_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def test_the_main_pages_render_and_are_photographed_when_asked(login):
    page = login("alice")
    page.set_viewport_size(VIEWPORT)
    page.goto("/compute/instances/")
    _, instance = launched(page, f"web-{uuid.uuid4().hex[:4]}")

    page.goto("/")
    expect(page.locator("h1")).to_contain_text("Dashboard")
    expect(page.locator("#chart-dashboard")).to_have_attribute("data-ready", "1")
    shoot(page, "dashboard")

    page.goto("/compute/instances/")
    expect(page.locator(f"#instances tr[data-instance='{instance['id']}'] [data-field=state]")).to_have_text("Active")
    shoot(page, "instances")

    page.goto(f"/compute/instances/{instance['id']}/")
    expect(page.locator("#instance-state")).to_have_text("Active")
    expect(page.locator("#instance-live .live-chart").first).to_have_attribute("data-ready", "1")
    shoot(page, "instance")

    page.goto("/compute/instances/launch/")
    expect(page.locator("#launch-form")).to_be_visible()
    page.fill("input[name=name]", "web-2")
    page.select_option("select[name=flavor]", label="m1.tiny")
    shoot(page, "launch")
