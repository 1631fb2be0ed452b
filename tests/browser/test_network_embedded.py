"""The embedded default's own OVN Northbound, as a newcomer meets it in the browser: the
dashboard's Networks card and every network page say "OVN Northbound embedded: logical config
only, no data plane", and a member makes a router through the form (the libvirt backend would
refuse it), which becomes active."""

import uuid

import pytest
from playwright.sync_api import expect

from network.conf import EMBEDDED_NOTE
from network.ovn.local_server import missing_tools

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(missing_tools() is not None, reason=f"no embedded OVN Northbound: {missing_tools()}"),
]
RELOADS = 40


def test_the_dashboard_and_network_pages_say_the_nb_is_embedded_and_a_router_becomes_active(login):
    page = login("alice")
    expect(page.locator("a.card.stat").filter(has_text="Networks")).to_contain_text(EMBEDDED_NOTE)
    for path in ("/network/", "/network/routers/", "/network/security-groups/", "/network/floating-ips/"):
        page.goto(path)
        expect(page.locator("#network-backend-note")).to_contain_text(EMBEDDED_NOTE)
        expect(page.locator("#network-backend-note .badge")).to_have_text("no data plane")

    name = f"edge-{uuid.uuid4().hex[:6]}"
    page.goto("/network/routers/new/")
    page.fill("#create-form input[name=name]", name)
    page.click("#create-form button[type=submit]")
    row = page.locator("tr").filter(has_text=name)
    expect(row).to_have_count(1)
    for _ in range(RELOADS):  # realised by the portal's own worker against its own NB
        if "Active" in row.inner_text():
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(row).to_contain_text("Active")
