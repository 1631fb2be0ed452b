"""The launch form's security groups on the embedded default: libvirt networks have no OVN, so
the form says so where the choice would be (tests/network/test_launch_security_groups.py covers
choosing them on OVN)."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_the_launch_form_says_why_security_groups_cannot_be_chosen_here(login):
    page = login("alice")
    page.goto("/compute/instances/launch/")
    expect(page.locator("#launch-form")).to_contain_text("Security groups")
    expect(page.locator("#launch-form")).to_contain_text("has no OVN, so no security groups")
    assert page.locator("#launch-form input[name=security_groups]").count() == 0
