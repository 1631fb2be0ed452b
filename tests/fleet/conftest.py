"""The fleet tier: the portal as production runs it on the lab (`make lab-fleet`: uvicorn with two
workers, beat, two Celery workers in their own mount namespaces, one of them in host B's network
namespace, PostgreSQL and Redis), driven only from outside: HTTP, websockets, virsh on the hosts.
Nothing here imports Django or the portal's code. Skipped, with the reason printed, when the
fleet is not up."""

import uuid
from pathlib import Path

import psycopg
import pytest
import requests

from tests.browser.conftest import chromium  # noqa: F401 (the browser tier's Chromium, module scope)
from tests.fleet import checks
from tests.fleet.checks import domains, virsh  # noqa: F401 (the tier's modules import them from here)
from tests.fleet.client import FLEET_JSON, load_fleet, sign_in_admin

MAX_SOCKET_TRIES = 40  # connections opened to find both uvicorn workers


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.fleet)


@pytest.fixture(scope="session")
def fleet():
    data = load_fleet()
    if data is None:
        pytest.skip(f"the fleet is not up ({FLEET_JSON} absent): run `make lab` then `make lab-fleet` as root")
    ready = requests.get(f"{data['url']}/readyz", timeout=10)
    assert ready.status_code == 200, f"the fleet is recorded as up but not ready: {ready.text}"
    return data


@pytest.fixture(scope="session")
def admin(fleet):
    return sign_in_admin(fleet)


@pytest.fixture(scope="session")
def project(admin):
    """A project of the tier's own, removed (with anything left in it) at the end."""
    made = admin.call("POST", "projects/", expect=201, json={"name": f"fleet-{uuid.uuid4().hex[:6]}"}).json()
    yield made
    if admin.call("DELETE", f"projects/{made['id']}/").status_code == 409:
        admin.wait(admin.action("POST", f"projects/{made['id']}/purge/"))


@pytest.fixture
def tenant(admin):
    """A project of the test's own, with its quota use before anything; removed after."""
    made = admin.call("POST", "projects/", expect=201, json={"name": f"faults-{uuid.uuid4().hex[:6]}"}).json()
    yield made, checks.quota_in_use(admin, made)
    if admin.call("DELETE", f"projects/{made['id']}/").status_code == 409:
        admin.wait(admin.action("POST", f"projects/{made['id']}/purge/"))


@pytest.fixture
def fleet_db(fleet):  # per test: an outage test restarts the fleet's PostgreSQL under it
    with psycopg.connect(fleet["database"], autocommit=True, connect_timeout=10) as conn:
        yield conn


@pytest.fixture(scope="session")
def hosts(admin, fleet):
    """The lab's hosts as the fleet registered them: {name: host row}, every one by a network URI."""
    rows = {row["name"]: row for row in admin.items("hosts/?page_size=100")}
    return {spec["name"]: rows[spec["name"]] for spec in fleet["lab"]["hosts"]}


@pytest.fixture(scope="session")
def two_sockets(admin, fleet):
    """Two websockets served by the two different uvicorn worker processes."""
    workers = web_workers(fleet)
    kept, spare = {}, []
    for _ in range(MAX_SOCKET_TRIES):
        sock = admin.socket()
        assert sock.process in workers, f"served by {sock.process}, not one of uvicorn's workers {workers}"
        if sock.process in kept:
            spare.append(sock)
        else:
            kept[sock.process] = sock
        if len(kept) == 2:
            break
    for sock in spare:
        sock.close()
    assert len(kept) == 2, f"{MAX_SOCKET_TRIES} connections all went to uvicorn worker {set(kept)}"
    yield list(kept.values())
    for sock in kept.values():
        sock.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(60000)
    yield page
    context.close()


def web_workers(fleet):
    """PIDs (as text, like the x-nubes-process header) of uvicorn's worker processes now: the
    recorded web process's children that multiprocessing spawned (uvicorn replaces one that dies)."""
    web = next(p["pid"] for p in fleet["processes"] if p["name"] == "web")
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if (
                int(stat.read_text().rsplit(")", 1)[1].split()[1]) == web
                and b"spawn_main" in (stat.parent / "cmdline").read_bytes()
            ):
                found.add(stat.parent.name)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found
