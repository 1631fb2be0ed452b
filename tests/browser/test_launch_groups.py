"""The launch form's security groups on the embedded default: with its own OVN Northbound
(ovn-central installed) the form offers the project's groups; without it the networks are
libvirt's, which have no OVN, and the form says so where the choice would be
(tests/network/test_launch_security_groups.py covers choosing them on OVN)."""

import pytest
from playwright.sync_api import expect

from network.ovn.local_server import missing_tools

pytestmark = pytest.mark.browser


def test_the_launch_form_offers_the_projects_groups_or_says_why_it_cannot(login):
    page = login("alice")
    page.goto("/compute/instances/launch/")
    form = page.locator("#launch-form")
    expect(form).to_contain_text("Security groups")
    if missing_tools() is None:  # the embedded default's own NB: acme's default group
        expect(form.locator("label").filter(has_text="default").locator("input[name=security_groups]")).to_have_count(1)
        expect(form).not_to_contain_text("has no OVN")
    else:
        expect(form).to_contain_text("has no OVN, so no security groups")
        assert form.locator("input[name=security_groups]").count() == 0
