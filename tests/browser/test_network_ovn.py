"""Routers, floating IPs, edit forms and live port links through the browser, on a portal of
its own whose networks are realised in a real OVN Northbound ovsdb-server (the shared browser
portal runs the embedded backend, which refuses routers). The test flips a port's `up` in the
NB as ovn-controller would, and the ports list's Link cell follows without a reload."""

import json

import pytest
from playwright.sync_api import expect

from network.ovn.local_server import NbServer, ServerUnavailable, missing_tools
from tests.browser.conftest import portal_environment, run_shell, serve_portal, sign_in

pytestmark = pytest.mark.browser
LIVE_TIMEOUT_MS = 20000  # beat reads the ports' state every second here
STATUS_INTERVAL_S = "1"

# Made through the services (tasks run eagerly in the shell, against the same NB): a public
# network only a cloud admin may make, and alice's network, subnet, port, router and floating IP.
SETUP = """
import json
from django.contrib.auth import get_user_model
from network import services
from portal.models import Project
users, acme = get_user_model().objects, Project.objects.get(name="acme")
admin, alice = users.get(username="admin"), users.get(username="alice")
public, _ = services.create_network(admin, acme, name="public", external=True)
services.create_subnet(admin, public, cidr="172.24.4.0/24", gateway_ip="172.24.4.1")
web, _ = services.create_network(alice, acme, name="web")
subnet, _ = services.create_subnet(alice, web, cidr="10.0.0.0/24", gateway_ip="10.0.0.1")
port, _ = services.create_port(alice, acme, web, name="db")
router, _ = services.create_router(alice, acme, name="edge", external_network=public)
fip, _ = services.create_floating_ip(alice, acme, public)
print(json.dumps({"web": web.pk, "subnet": subnet.pk, "port": port.pk, "lsp": port.interface_id,
                  "address": port.ip_allocations.get().address, "router": router.pk, "fip": fip.pk}))
"""


@pytest.fixture(scope="module")
def ovn(tmp_path_factory):
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    nb = NbServer(tmp_path_factory.mktemp("browser-ovnnb"))
    try:
        nb.start()
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    env = portal_environment(
        tmp_path_factory.mktemp("portal-ovn"),
        NUBES_OVN_NB=nb.endpoint,
        NUBES_NETWORK_PORT_STATUS_INTERVAL=STATUS_INTERVAL_S,
    )
    portal = serve_portal(env)
    try:
        url = next(portal)
        made = json.loads(run_shell({**env, "NUBES_CELERY_EAGER": "1"}, SETUP).strip().splitlines()[-1])
        yield nb, url, made
    finally:
        portal.close()  # stops the portal by its PID
        nb.stop()


@pytest.fixture
def alice(chromium, ovn):
    _, url, _ = ovn
    context = chromium.new_context(base_url=url)
    page = context.new_page()
    page.set_default_timeout(20000)
    yield sign_in(page, "alice")
    context.close()


def test_a_member_adds_a_router_interface_associates_a_floating_ip_and_edits_a_network(alice, ovn):
    _, _, made = ovn
    alice.goto(f"/network/routers/{made['router']}/")
    alice.select_option("#add-interface-form select[name=subnet]", value=str(made["subnet"]))
    alice.click("#add-interface-form button[type=submit]")
    expect(alice.locator(f"#interfaces tr[data-subnet='{made['subnet']}']")).to_contain_text("10.0.0.0/24")

    alice.goto(f"/network/floating-ips/{made['fip']}/")
    alice.select_option("#associate-form select[name=port]", value=str(made["port"]))
    alice.click("#associate-form button[type=submit]")
    expect(alice.locator("#fip-fixed-ip")).to_have_text(made["address"])
    expect(alice.locator("#disassociate-form")).to_have_count(1)

    alice.goto(f"/network/networks/{made['web']}/edit/")
    alice.fill("#edit-form input[name=name]", "web-renamed")
    alice.click("#edit-form button[type=submit]")
    expect(alice.locator(f"#networks tr[data-id='{made['web']}']")).to_contain_text("web-renamed")


def test_the_ports_link_cell_follows_ovn_without_a_reload(alice, ovn):
    nb, _, made = ovn
    alice.goto("/network/ports/")
    alice.evaluate("window.__noReload = true")
    cell = alice.locator(f"tr[data-port='{made['port']}'] [data-field='link']")
    expect(cell).to_have_text("Unknown")
    # OVN's change must not come before the page has joined the port's group
    alice.wait_for_function(
        f"() => (document.body.dataset.wsSubscribed || '').split(' ').includes('network.port.{made['port']}')"
    )
    nb.transact(
        {"op": "update", "table": "Logical_Switch_Port", "where": [["name", "==", made["lsp"]]], "row": {"up": True}}
    )
    expect(cell).to_have_text("Up", timeout=LIVE_TIMEOUT_MS)
    assert alice.evaluate("window.__noReload === true"), "the ports list reloaded instead of updating"
