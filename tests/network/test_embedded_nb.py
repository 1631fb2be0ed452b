"""The embedded default's own OVN Northbound (network/embedded.py), in this process: served only
when nothing else chooses the control plane; what the pages and the API say while it serves;
the fallback to libvirt networks, with the reason on the pages, when ovn-central is missing;
and a server left behind by a killed run ended through its pidfile, so the next start works.
(tests/portal/test_first_run.py runs it as `make run` does.)"""

import io
import os
from pathlib import Path

import pytest

from compute.models import Migration
from compute.services import migration as migration_service
from network import backends, embedded, lab, services
from network import conf as net_settings
from network.choices import DeviceOwner
from network.models import Network
from network.ovn.local_server import NbServer, missing_tools
from network.services import instances
from tests.compute.conftest import cluster, flavor, fresh_hosts, host_a, hosts, image, launch  # noqa: F401
from tests.compute.live_helpers import baseline, instant, running  # noqa: F401

pytestmark = pytest.mark.django_db
OVN_MISSING = missing_tools()
needs_ovn = pytest.mark.skipif(OVN_MISSING is not None, reason=f"no embedded OVN Northbound: {OVN_MISSING}")
LAB = {"ovn": {"nb": "tcp:10.99.0.1:6641", "sb": "tcp:10.99.0.1:6642", "encap_type": "geneve"}, "hosts": []}


@pytest.fixture
def unconfigured(monkeypatch, settings, tmp_path):
    """No NUBES_OVN_* nor backend in the environment, a data directory of its own."""
    for variable in (*net_settings.OVN_VARIABLES, "NUBES_NETWORK_BACKEND"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(embedded, "unavailable", "")
    settings.DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture
def served(unconfigured):
    out = io.StringIO()
    stop = embedded.start(out)
    assert stop is not None, out.getvalue()
    pid = int(out.getvalue().split("ovsdb-server pid ")[1].split()[0])
    yield pid, stop
    stop()


def alive(pid):
    try:
        return b"ovsdb-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@needs_ovn
def test_it_serves_when_nothing_chooses_and_the_pages_and_api_say_so(
    served, unconfigured, browser, api, alice, project_a, run_tasks
):
    assert backends.configured().name == "ovn" and net_settings.embedded_nb()
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="web")
    network.refresh_from_db()
    assert network.state == "active"
    assert len(NbServer(unconfigured / "ovn-nb").rows("Logical_Switch", name=network.switch_name)) == 1

    for path in ("/network/", "/network/routers/", "/"):
        page = browser.get(path).content.decode()
        assert net_settings.EMBEDDED_NOTE in page, path
    assert 'data-embedded-nb="true"' in browser.get("/network/").content.decode()
    [row] = api["alice"].get("/api/v1/networks/").json()["results"]
    assert row["backend_label"] == net_settings.EMBEDDED_NOTE
    assert api["admin"].get("/api/v1/ovn-deployment/").json()["effective"]["embedded_nb"] is True


@needs_ovn
def test_stopping_ends_the_server_and_new_networks_are_libvirts_again(served, unconfigured):
    pid, stop = served
    assert alive(pid)
    stop()
    assert not alive(pid)
    assert not net_settings.embedded_nb() and backends.configured().name == "libvirt"


def test_the_environment_or_a_registered_deployment_keeps_it_off(unconfigured, monkeypatch, admin_user):
    monkeypatch.setenv("NUBES_OVN_NB", "")  # the environment says: no OVN
    assert embedded.start(io.StringIO()) is None
    monkeypatch.delenv("NUBES_OVN_NB")
    monkeypatch.setenv("NUBES_NETWORK_BACKEND", net_settings.LIBVIRT_BACKEND)
    assert embedded.start(io.StringIO()) is None
    monkeypatch.delenv("NUBES_NETWORK_BACKEND")
    lab.register_ovn(admin_user, LAB)  # `make lab` registered its OVN
    assert embedded.start(io.StringIO()) is None
    assert not (unconfigured / "ovn-nb").exists() and net_settings.ovn_nb_endpoint() == "tcp:10.99.0.1:6641"


def test_without_ovn_central_networks_are_libvirts_and_the_pages_say_why(
    unconfigured, monkeypatch, browser, alice, project_a, run_tasks
):
    monkeypatch.setattr(embedded, "missing_tools", lambda: "/usr/share/ovn/ovn-nb.ovsschema is missing")
    out = io.StringIO()
    assert embedded.start(out) is None
    assert "No embedded OVN Northbound" in out.getvalue() and "libvirt backend" in out.getvalue()
    page = browser.get("/network/").content.decode()
    assert 'data-backend="libvirt"' in page and "need OVN" in page
    assert "ovn-nb.ovsschema is missing" in page and "ovn-central" in page
    assert net_settings.EMBEDDED_NOTE not in page
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="web")
    assert Network.objects.get(pk=network.pk).backend == "libvirt"


@needs_ovn
def test_a_server_left_by_a_killed_run_is_ended_by_its_pidfile_and_a_stranger_is_left_alone(tmp_path):
    left = NbServer(tmp_path)  # no parent death: as if its portal had died without a word
    left.start()
    server = NbServer(tmp_path)
    try:
        server.start()  # the database file is locked by the leftover until it is ended
        assert left.process.wait(5) is not None
        assert server.pid and server.rows("NB_Global") is not None
    finally:
        server.stop()
        left.stop()
    server.pidfile.write_text(f"{os.getpid()}\n")  # a reused PID: not an ovsdb-server of ours
    try:
        server.start()
        assert server.pid
    finally:
        server.stop()


@needs_ovn
def test_a_migration_on_the_embedded_nb_needs_no_chassis(
    served, alice, project_a, run_tasks, running, hosts, baseline, admin_user, instant, monkeypatch
):
    """No data plane, so no Southbound to check the target against: the demo's instances on
    OVN networks move (a configured NB without a Southbound still refuses, as before)."""
    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="web")
        services.create_subnet(alice, network, cidr="10.0.0.0/24", gateway_ip="10.0.0.1")
    with run_tasks():
        services.create_port(alice, project_a, network, device_owner=DeviceOwner.INSTANCE, instance=running)
    assert instances.migration_check(running, hosts[1]) is None
    monkeypatch.setenv("NUBES_OVN_NB", net_settings.ovn_nb_endpoint())  # the same NB, as a deployment's
    assert "Southbound endpoint is not configured" in instances.migration_check(running, hosts[1])
    monkeypatch.delenv("NUBES_OVN_NB")
    op = migration_service.start_migration(
        running, target_host=hosts[1], user=admin_user, options={"copy_storage": True}
    )
    assert Migration.objects.get(operation=op).target == hosts[1]
