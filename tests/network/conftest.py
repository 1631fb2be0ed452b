"""A real OVN Northbound ovsdb-server for the whole session (started here, stopped by its
PID), emptied before each test that uses it. Tests read rows back with ovsdb-client, a
client that is not Nubes, so they check what OVN really holds."""

import re
import time
from types import SimpleNamespace

import pytest
from django.test import Client

from network.ovn import client
from network.ovn.local_server import NbServer, ServerUnavailable, missing_tools
from network.ovn.specs import Endpoint
from tests.browser.conftest import stop

TEST_TIMEOUT_S = 3.0


@pytest.fixture(scope="session")
def nb_server(tmp_path_factory):
    reason = missing_tools()
    if reason:
        print(f"OVN NB tests skipped: {reason}")
        pytest.skip(reason)
    server = NbServer(tmp_path_factory.mktemp("ovnnb"))
    try:
        server.start()
    except ServerUnavailable as exc:
        print(f"OVN NB tests skipped: {exc}")
        pytest.skip(str(exc))
    yield server
    client.close_all()
    server.stop()


def wait_for_empty_replica(endpoint):
    """The pooled connection learns of the clear asynchronously; a test that starts before
    it has would see the previous test's rows in its replica. Production has the periodic
    sync for such lag; a test needs a clean start."""
    with client._pool_lock:
        api = client._pool.get(endpoint)
    if api is None:
        return
    deadline = time.monotonic() + TEST_TIMEOUT_S
    kept = ("NB_Global", "SB_Global")  # clear() leaves them (ovn-northd makes them)
    while any(t.rows for name, t in api.tables.items() if name not in kept) and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.fixture
def nb(nb_server, monkeypatch):
    """An empty NB database, and Nubes configured to use it."""
    nb_server.start()  # a test may have stopped it
    nb_server.clear()
    wait_for_empty_replica(nb_server.endpoint)
    monkeypatch.setenv("NUBES_OVN_NB", nb_server.endpoint)
    monkeypatch.setenv("NUBES_OVN_TIMEOUT", str(TEST_TIMEOUT_S))
    monkeypatch.delenv("NUBES_NETWORK_BACKEND", raising=False)
    return nb_server


@pytest.fixture
def endpoint(nb):
    return Endpoint(nb.endpoint, TEST_TIMEOUT_S)


@pytest.fixture
def port(nb, alice, project_a, run_tasks):
    """Alice's port on a network with a subnet, realised in the NB."""
    from network import services

    with run_tasks():
        network, _ = services.create_network(alice, project_a, name="web")
        services.create_subnet(alice, network, cidr="10.0.0.0/24", gateway_ip="10.0.0.1")
    with run_tasks():
        port, _ = services.create_port(alice, project_a, network)
    return port


@pytest.fixture(scope="session")
def sb_server(tmp_path_factory):
    """A real OVN Southbound ovsdb-server (tests write what ovn-controller would report)."""
    from network.ovn.local_server import SbServer

    server = SbServer(tmp_path_factory.mktemp("ovnsb"))
    try:
        server.start()
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture
def sb(sb_server, nb, monkeypatch):
    """An empty SB database, and Nubes configured to read it."""
    sb_server.start()
    sb_server.clear()
    wait_for_empty_replica(sb_server.endpoint)
    monkeypatch.setenv("NUBES_OVN_SB", sb_server.endpoint)
    return sb_server


def signed_in(user, project=None):
    """A Django test client signed in as `user`, with `project` chosen in the UI."""
    client = Client()
    client.force_login(user)
    if project is not None:
        session = client.session
        session["project_id"] = project.pk
        session.save()
    return client


@pytest.fixture
def browser(alice, project_a):
    return signed_in(alice, project_a)


@pytest.fixture
def lab(nb, alice, admin_user, project_a, run_tasks):
    """Alice's network with a subnet, a router with a gateway on a public network, two ports,
    a second subnet with no gateway address, and a floating IP not yet associated."""
    from network import services

    with run_tasks():
        web, _ = services.create_network(alice, project_a, name="web")
        subnet, _ = services.create_subnet(alice, web, cidr="10.0.0.0/24", gateway_ip="10.0.0.1")
        bare_net, _ = services.create_network(alice, project_a, name="bare")
        bare, _ = services.create_subnet(alice, bare_net, cidr="10.9.0.0/24")
        public, _ = services.create_network(admin_user, project_a, name="public", external=True)
        services.create_subnet(admin_user, public, cidr="172.24.4.0/24", gateway_ip="172.24.4.1")
        router, _ = services.create_router(alice, project_a, name="edge", external_network=public)
    with run_tasks():
        db, _ = services.create_port(alice, project_a, web, name="db")
        app, _ = services.create_port(alice, project_a, web, name="app")
        fip, _ = services.create_floating_ip(alice, project_a, public)
    return SimpleNamespace(web=web, subnet=subnet, bare=bare, public=public, router=router, db=db, app=app, fip=fip)


def choices(page, form_id, field):
    """The option values of one select of one form on a page."""
    form = re.search(rf'<form[^>]*id="{form_id}".*?</form>', page, re.S).group(0)
    select = re.search(rf'<select name="{field}".*?</select>', form, re.S).group(0)
    return {int(value) for value in re.findall(r'value="(\d+)"', select)}


@pytest.fixture
def northd(nb, sb, tmp_path):
    """A real ovn-northd between the test NB and SB (started here, stopped by its PID): it makes
    NB_Global / SB_Global and passes NB_Global.nb_cfg on to SB_Global.nb_cfg."""
    import os
    import shutil
    import subprocess

    exe = shutil.which("ovn-northd")
    if exe is None:
        print("SKIP: ovn-northd is not installed (apt-get install -y ovn-central)")
        pytest.skip("ovn-northd is not installed")
    with open(tmp_path / "northd.log", "ab") as log:
        proc = subprocess.Popen(
            [
                exe,
                f"--ovnnb-db={nb.endpoint}",
                f"--ovnsb-db={sb.endpoint}",
                f"--unixctl={tmp_path / 'northd.ctl'}",
                "--no-chdir",
            ],
            env={**os.environ, "OVN_RUNDIR": str(tmp_path)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 10
    while not nb.rows("NB_Global") or not sb.rows("SB_Global"):
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "northd.log").read_text()
        time.sleep(0.02)
    yield proc
    stop(proc)
