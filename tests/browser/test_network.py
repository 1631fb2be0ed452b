"""A tenant network through the browser, on the seeded demo (libvirt networks on simulated
hosts): create a network and a subnet, launch an instance on it, and watch the topology view
on another tab follow without a reload: the network's bar, the instance on it, and the
instance gone again once deleted."""

import uuid

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
LIVE_TIMEOUT_MS = 20000  # the topology refreshes every 5 s and on each operation


def network_id(page, name):
    response = page.request.get(f"/api/v1/networks/?search={name}")
    assert response.ok, response.text()
    [row] = [row for row in response.json()["results"] if row["name"] == name]
    return row["id"]


def test_a_member_makes_a_network_launches_on_it_and_sees_the_topology_follow(login):
    launcher = login("alice")
    suffix = uuid.uuid4().hex[:6]
    net_name, vm_name, cidr = f"net-{suffix}", f"vm-{suffix}", f"10.{int(suffix[:2], 16)}.7.0/24"
    watcher = launcher.context.new_page()
    watcher.goto("/network/")
    watcher.evaluate("window.__noReload = true")
    topology = watcher.locator("#topology")
    expect(topology).not_to_contain_text(net_name)

    launcher.goto("/network/networks/new/")
    launcher.fill("#create-form input[name=name]", net_name)
    launcher.click("#create-form button[type=submit]")
    expect(launcher.locator("body")).to_contain_text(net_name)
    net = network_id(launcher, net_name)
    launcher.goto("/network/subnets/new/")
    launcher.select_option("#create-form select[name=network]", value=str(net))
    launcher.fill("#create-form input[name=cidr]", cidr)
    launcher.click("#create-form button[type=submit]")
    expect(launcher.locator("body")).to_contain_text(cidr)

    bar = topology.locator(f"g.net[data-network='{net}']")
    expect(bar).to_contain_text(net_name, timeout=LIVE_TIMEOUT_MS)
    expect(bar).to_contain_text(cidr, timeout=LIVE_TIMEOUT_MS)

    launcher.goto("/compute/instances/launch/")
    launcher.fill("input[name=name]", vm_name)
    launcher.select_option("select[name=flavor]", label="m1.tiny")
    launcher.select_option("select[name=image]", label="cirros-demo")
    launcher.check(f"input[name=networks][value='{net}']")
    launcher.click("#launch-form button[type=submit]")
    expect(launcher.locator("h1")).to_have_text(vm_name)
    expect(launcher.locator("#instance-state")).to_have_text("Active", timeout=LIVE_TIMEOUT_MS)

    node = topology.locator("g.instance").filter(has_text=vm_name)
    expect(node).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
    expect(node).to_contain_text(cidr.rsplit(".", 2)[0])  # its address, from the new subnet

    launcher.once("dialog", lambda dialog: dialog.accept())
    launcher.click("form[action$='/delete/'] button")
    expect(node).to_have_count(0, timeout=LIVE_TIMEOUT_MS)
    assert watcher.evaluate("window.__noReload === true"), "the topology page reloaded instead of updating"
