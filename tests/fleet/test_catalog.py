"""The service catalog on the fleet, in Chromium: a PostgreSQL database ordered from the catalog
page (the order form made from the template's schema), its guest (lab/service-guest's image,
registered by lab_register) booted on a lab host under TCG by a Celery worker, then a user
created from the service's Users tab and the server log read from its Log tab, each through
the worker and the QEMU guest agent; last, the same database resized to the template's larger
flavor from its page's Resize form. One database guest for the module, deleted at the end with
virsh on the hosts agreeing. Skipped, saying why, when the fleet registered no template (the
image was not built)."""

import os
import re
import time
import uuid
from pathlib import Path

import pytest

from tests.browser.conftest import watch_csp
from tests.fleet.conftest import domains, virsh
from tests.integration.test_service_guest_lab import psql_as

TEMPLATE = "postgresql"
FLAVOR = "lab.db"
READY_TIMEOUT_S = 900  # order -> the health script answers: image clone, TCG boot, PostgreSQL
ACTION_TIMEOUT_S = 300
POLL_S = 1.0
# The module's first test carries the order and the guest's boot: more than the suite's 300 s.
pytestmark = [
    pytest.mark.timeout(READY_TIMEOUT_S + 2 * ACTION_TIMEOUT_S),
]


def one(rows, name):
    found = [row for row in rows if row["name"] == name]
    return found[0] if found else None


def sign_in(page, fleet):
    page.goto(f"{fleet['url']}/login/")
    page.fill("input[name=username]", fleet["admin"]["username"])
    page.fill("input[name=password]", Path(fleet["admin"]["password_file"]).read_text().strip())
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


@pytest.fixture(scope="module")
def browser(chromium, fleet):
    context = chromium.new_context()
    refused = watch_csp(context)
    page = context.new_page()
    page.set_default_timeout(60000)
    sign_in(page, fleet)
    yield page
    context.close()
    assert not refused, f"the Content-Security-Policy refused: {refused}"


def operations_on(admin, service_id, kind):
    return admin.items(f"operations/?target_type=catalog.service&target_id={service_id}&kind={kind}&page_size=100")


def wait_for_operation(admin, service_id, kind, known=()):
    """The newest Operation of ``kind`` on the service not among ``known`` ids, once it ended."""
    deadline = time.monotonic() + ACTION_TIMEOUT_S
    while time.monotonic() < deadline:
        fresh = [op for op in operations_on(admin, service_id, kind) if op["id"] not in known]
        if fresh and fresh[0]["status"] in ("succeeded", "failed", "cancelled"):
            return fresh[0]
        time.sleep(POLL_S)
    raise AssertionError(f"no finished {kind} on service {service_id} within {ACTION_TIMEOUT_S} s")


@pytest.fixture(scope="module")
def database(admin, project, fleet, hosts, browser):
    """A database ordered in the browser in the tier's project; yields (service, seconds to ready)."""
    if one(admin.items("service-templates/?page_size=100"), TEMPLATE) is None:
        pytest.skip(f"the fleet registered no {TEMPLATE} template: the service guest image is not built")
    page = browser
    page.goto(f"{fleet['url']}/catalog/")
    with page.expect_navigation():  # the project menu submits itself (data-autosubmit)
        page.select_option("select[name=project]", str(project["id"]))
    assert page.locator("body").get_attribute("data-project") == str(project["id"])
    page.click(f"[data-template={TEMPLATE}] a:has-text('Order')")
    name = f"db{uuid.uuid4().hex[:6]}"
    page.fill("#order-form input[name=name]", name)
    page.select_option("#order-form select[name=flavor]", label=FLAVOR)
    started = time.monotonic()
    page.click("#order-form button[type=submit]")
    page.wait_for_url(re.compile(r"/catalog/services/\d+/"))
    service_id = int(re.search(r"/catalog/services/(\d+)/", page.url).group(1))
    service = None
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            service = admin.get(f"services/{service_id}/")
            if service["state"] not in ("building",):
                break
            time.sleep(POLL_S)
        ready_s = time.monotonic() - started
        print(
            f"\ndatabase {name}: ordered in the browser -> {service['state']} after {ready_s:.0f} s "
            f"(load average {os.getloadavg()[0]:.1f})"
        )
        yield service, ready_s
    finally:
        if admin.call("GET", f"services/{service_id}/").status_code == 200:
            instance = admin.get(f"services/{service_id}/")["instance"]
            domain = admin.get(f"instances/{instance}/")["domain_name"] if instance else None
            admin.succeeded(admin.action("DELETE", f"services/{service_id}/"), timeout=ACTION_TIMEOUT_S)
            assert admin.call("GET", f"services/{service_id}/").status_code == 404
            for host in hosts.values():  # virsh on every host agrees: the database's VM is gone
                assert domain not in domains(host["uri"]), (domain, host["name"])


def test_the_ordered_database_is_active_on_a_lab_host(admin, database, hosts):
    service, _ready_s = database
    assert service["state"] == "active", service["status_reason"]
    instance = admin.get(f"instances/{service['instance']}/")
    host = next(h for h in hosts.values() if h["id"] == instance["host"])
    assert instance["domain_name"] in domains(host["uri"])
    create = operations_on(admin, service["id"], "service.create")[0]
    assert create["status"] == "succeeded", create


def test_a_user_made_in_the_users_tab_is_listed_by_the_guest(admin, database, browser, fleet):
    service, _ = database
    page = browser
    page.goto(f"{fleet['url']}/catalog/services/{service['id']}/?tab=users")
    known = {op["id"] for op in operations_on(admin, service["id"], "service.action.user-create")}
    page.fill("#action-user-create input[name=user-create-name]", "app_user")
    page.fill("#action-user-create input[name=user-create-password]", "fleet 'pass' $(x)")
    page.click("#action-user-create button[type=submit]")
    page.wait_for_url(re.compile(r"tab=users"))
    op = wait_for_operation(admin, service["id"], "service.action.user-create", known)
    assert op["status"] == "succeeded", op
    assert op["detail"]["arguments"] == {"name": "app_user", "password": "***"}
    print(f"\nuser-create through the agent: {op['detail']['duration_s']} s (load {os.getloadavg()[0]:.1f})")
    page.goto(f"{fleet['url']}/catalog/services/{service['id']}/?tab=users")
    assert page.locator("#users-list tr[data-name=app_user]").count() == 1


def test_a_bad_user_name_is_refused_beside_its_field_and_nothing_runs(admin, database, browser, fleet):
    service, _ = database
    page = browser
    page.goto(f"{fleet['url']}/catalog/services/{service['id']}/?tab=users")
    before = len(operations_on(admin, service["id"], "service.action.user-create"))
    page.fill("#action-user-create input[name=user-create-name]", "Bad Name")
    page.fill("#action-user-create input[name=user-create-password]", "long enough")
    page.click("#action-user-create button[type=submit]")
    assert page.locator("#action-user-create [data-error-for=name]").count() == 1
    assert page.locator("#action-user-create input[name=user-create-name]").input_value() == "Bad Name"
    assert len(operations_on(admin, service["id"], "service.action.user-create")) == before


def test_the_log_tab_reads_the_server_log_through_the_agent(admin, database, browser, fleet):
    service, _ = database
    page = browser
    page.goto(f"{fleet['url']}/catalog/services/{service['id']}/?tab=log")
    page.click("#tab-log button:has-text('Read the log')")
    op = wait_for_operation(admin, service["id"], "service.log")
    assert op["status"] == "succeeded", op
    page.goto(f"{fleet['url']}/catalog/services/{service['id']}/?tab=log")
    assert "database system is ready to accept connections" in page.locator("#service-log").inner_text()


def test_the_database_lives_on_its_own_data_volume(admin, database):
    service, _ = database
    volume = admin.get(f"volumes/{service['data_volume']}/")
    assert volume["instance"] == service["instance"] and volume["size_gb"] == service["parameters"]["data_volume_gb"]
    create = operations_on(admin, service["id"], "service.create")[0]
    assert create["detail"]["data_volume_setup"]["moved"] is True, create["detail"]


def test_a_backup_from_the_backups_tab_restores_into_a_new_database_server(admin, database, browser, fleet, hosts):
    """Rows written by a user over TCP, a backup taken from the page (a volume of its own,
    attached, written, detached), a new server ordered from it through the API: the rows are
    there, read by the same user with the same password."""
    service, _ = database
    sid = service["id"]

    def run(action, arguments):
        op = admin.action("POST", f"services/{sid}/run/", json={"action": action, "arguments": arguments})
        return admin.succeeded(op, timeout=ACTION_TIMEOUT_S)

    def guest(service_row):
        instance = admin.get(f"instances/{service_row['instance']}/")
        host = next(h for h in hosts.values() if h["id"] == instance["host"])
        return host["uri"], instance["uuid"]

    run("user-create", {"name": "ledger_owner", "password": "ledger-pass-1"})
    run("db-create", {"name": "ledger", "owner": "ledger_owner"})
    uri, domain = guest(service)
    fill = "CREATE TABLE entry (n int); INSERT INTO entry SELECT generate_series(1, 50000);"
    assert psql_as(domain, "ledger_owner", "ledger-pass-1", "ledger", fill, uri=uri)[0] == 0
    page = browser
    page.goto(f"{fleet['url']}/catalog/services/{sid}/?tab=backups")
    known = {op["id"] for op in operations_on(admin, sid, "service.backup")}
    page.click("#tab-backups button:has-text('Back up now')")
    op = wait_for_operation(admin, sid, "service.backup", known)
    assert op["status"] == "succeeded", op
    backup = admin.items(f"backups/?service={sid}")[0]
    assert backup["state"] == "available" and admin.get(f"volumes/{backup['volume']}/")["instance"] is None
    print(
        f"\nbackup from the page: {op['message']}; the whole backup {backup['duration_s']} s (load {os.getloadavg()[0]:.1f})"
    )
    body = {
        "project": service["project"],
        "template": service["template"],
        "name": f"rs{uuid.uuid4().hex[:6]}",
        "flavor": service["flavor"],
        "parameters": service["parameters"],
        "backup": backup["id"],
    }
    started = time.monotonic()
    created = admin.action("POST", "services/", json=body)
    restored_id = created["target_id"]
    try:
        created = admin.succeeded(created, timeout=READY_TIMEOUT_S)
        restored = admin.get(f"services/{restored_id}/")
        print(
            f"restored into {restored['name']}: active {time.monotonic() - started:.0f} s after the order, "
            f"the restore itself {created['detail'].get('restore_s')} s"
        )
        assert restored["state"] == "active" and restored["restored_from"] == backup["id"]
        uri, domain = guest(restored)
        assert psql_as(domain, "ledger_owner", "ledger-pass-1", "ledger", "SELECT count(*) FROM entry;", uri=uri) == (
            0,
            "50000",
        )
    finally:
        admin.succeeded(admin.action("DELETE", f"services/{restored_id}/"), timeout=ACTION_TIMEOUT_S)
        admin.succeeded(admin.action("DELETE", f"backups/{backup['id']}/"), timeout=ACTION_TIMEOUT_S)


LARGE_FLAVOR = "lab.db.large"


def test_the_resize_form_moves_the_database_to_a_larger_flavor_and_its_data_stays(
    admin, database, browser, fleet, hosts
):
    """The module's database (after the backup test: its ledger rows and users) resized from its
    page's Resize form to the template's other flavor: the Operation succeeds, the service is
    active on the new flavor, the domain has its memory and vCPUs (virsh on its host), and the
    same user reads the same rows over TCP; the users tab still lists the user made there."""
    service, _ = database
    sid = service["id"]
    large = one(admin.items("flavors/?page_size=200"), LARGE_FLAVOR)
    if large is None or large["id"] == service["flavor"]:
        pytest.skip(f"the fleet has no {LARGE_FLAVOR} to resize to (lab registration predates it)")
    page = browser
    page.goto(f"{fleet['url']}/catalog/services/{sid}/")
    known = {op["id"] for op in operations_on(admin, sid, "service.resize")}
    page.select_option("#resize-service select[name=flavor]", str(large["id"]))
    page.once("dialog", lambda dialog: dialog.accept())  # the form's data-confirm
    started = time.monotonic()
    with page.expect_navigation():
        page.click("#resize-service button[type=submit]")
    op = wait_for_operation(admin, sid, "service.resize", known)
    took_s = time.monotonic() - started
    assert op["status"] == "succeeded", op
    print(
        f"\nresize {op['detail']['from_flavor_name']} -> {op['detail']['flavor_name']} from the page "
        f"({'live' if op['detail']['live'] else 'cold'}): {op['message']}; {took_s:.0f} s click to Operation done "
        f"(load {os.getloadavg()[0]:.1f})"
    )
    resized = admin.get(f"services/{sid}/")
    assert (resized["state"], resized["flavor"]) == ("active", large["id"]), resized["status_reason"]
    instance = admin.get(f"instances/{resized['instance']}/")
    assert (instance["flavor"], instance["ram_mb"], instance["vcpus"]) == (large["id"], large["ram_mb"], large["vcpus"])
    host = next(h for h in hosts.values() if h["id"] == instance["host"])
    info = dict(
        (key.strip(), value.strip())
        for key, _, value in (
            line.partition(":") for line in virsh(host["uri"], "dominfo", instance["uuid"]).splitlines()
        )
    )
    assert info["State"] == "running", info
    assert int(info["Max memory"].split()[0]) == large["ram_mb"] * 1024, info
    assert int(info["CPU(s)"]) == large["vcpus"], info
    count = psql_as(
        instance["uuid"], "ledger_owner", "ledger-pass-1", "ledger", "SELECT count(*) FROM entry;", uri=host["uri"]
    )
    assert count == (0, "50000")
    page.goto(f"{fleet['url']}/catalog/services/{sid}/?tab=users")
    assert page.locator("#users-list tr[data-name=app_user]").count() == 1
