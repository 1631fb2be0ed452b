"""The instance page's graphical console panel: noVNC when the instance runs on a host the proxy
reaches and the client is installed; otherwise a message that says why not. A panel refused
for the instance's state carries what the user may do once it runs (data-vnc-access, the
controls hidden), so the page's live updates can open it without a reload."""

import pytest
from django.test import Client

from compute import console
from compute.choices import InstanceState
from compute.models import Cluster, Host
from tests.compute.test_vnc_proxy import make_instance


@pytest.fixture
def novnc(settings, tmp_path):
    """Points the static files at a stand-in noVNC tree, or at none (installed=False)."""

    def install(installed):
        module = tmp_path / "novnc" / "core" / "rfb.js"
        module.parent.mkdir(parents=True, exist_ok=True)
        module.write_text("export default class RFB {}\n")
        settings.STATICFILES_DIRS = [("vendor/novnc", module.parent.parent)] if installed else []

    return install


@pytest.fixture
def real_host(db):
    return Host.objects.create(name="lab-a", uri="qemu:///system", cluster=Cluster.objects.create(name="lab"))


def stopped(instance):
    instance.state = InstanceState.SHUTOFF
    instance.save(update_fields=["state"])
    return instance


def panel_of(user, instance):
    client = Client()
    client.force_login(user)
    response = client.get(f"/compute/instances/{instance.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    return html[html.index('<section class="card" id="vnc"') : html.index("</section>", html.index('id="vnc"'))]


def test_a_running_instance_on_a_real_host_offers_novnc(alice, project_a, flavor, image, real_host, novnc):
    novnc(installed=True)
    panel = panel_of(alice, make_instance(project_a, flavor, image, real_host, port=5901))
    assert 'data-vnc-state="ready"' in panel
    assert 'data-rfb-module="/static/vendor/novnc/core/rfb.js"' in panel
    assert "csrfmiddlewaretoken" in panel and 'id="vnc-open"' in panel


def test_without_the_client_the_panel_says_how_to_install_it(alice, project_a, flavor, image, real_host, novnc):
    novnc(installed=False)
    panel = panel_of(alice, make_instance(project_a, flavor, image, real_host, port=5901))
    assert 'data-vnc-state="no-client"' in panel and "make static-deps" in panel
    assert "data-rfb-module" not in panel and 'id="vnc-open"' not in panel


@pytest.mark.parametrize("installed", [True, False])
def test_a_simulated_host_has_no_graphical_console(alice, project_a, flavor, image, host_a, novnc, installed):
    novnc(installed=installed)
    panel = panel_of(alice, make_instance(project_a, flavor, image, host_a))
    assert 'data-vnc-state="refused"' in panel and "simulated host" in panel
    assert 'id="vnc-open"' not in panel or '<div id="vnc-controls" hidden>' in panel


def test_a_stopped_instance_opens_its_console_when_it_runs(alice, project_a, flavor, image, real_host, novnc):
    novnc(installed=True)
    instance = stopped(make_instance(project_a, flavor, image, real_host))
    panel = panel_of(alice, instance)
    assert 'data-vnc-state="refused"' in panel and "opens while it runs" in panel
    # Ready to follow a start: the controls are there, hidden, with what they need.
    assert 'data-vnc-access="ready"' in panel and '<div id="vnc-controls" hidden>' in panel
    assert 'data-token-url="/api/v1/instances/' in panel and "csrfmiddlewaretoken" in panel


def test_a_reader_s_stopped_instance_says_what_it_will_say_once_it_runs(
    bob, project_a, flavor, image, real_host, novnc
):
    novnc(installed=True)
    instance = stopped(make_instance(project_a, flavor, image, real_host))
    panel = panel_of(bob, instance)
    assert 'data-vnc-state="refused"' in panel and 'data-vnc-access="reader"' in panel
    assert f'data-access-message="{console.READER_REFUSAL}"' in panel and 'id="vnc-open"' not in panel


def test_a_reader_sees_no_connect_button(bob, project_a, flavor, image, real_host, novnc):
    novnc(installed=True)
    panel = panel_of(bob, make_instance(project_a, flavor, image, real_host, port=5901))
    assert 'data-vnc-state="reader"' in panel and console.READER_REFUSAL in panel
    assert 'id="vnc-open"' not in panel
