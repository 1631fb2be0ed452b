"""DRS through the browser: an admin makes a small cluster lopsided through the API, runs
DRS from the scheduler page, approves the recommendation and watches, without reloading,
the migrations finish and the imbalance measured after them appear."""

import json
import re
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
NODES = Path(__file__).resolve().parents[2] / "hypervisor" / "nodes"
SMALL_HOST_KIB = 4 * 1024 * 1024  # 4 GiB: four m1.tiny instances make a visible imbalance
INSTANCES = 4
READY_TIMEOUT_S = 60
MIGRATION_TIMEOUT_MS = 120_000


def small_node(tmp_path, name):
    """A copy of a demo node file with 4 GiB of memory (same CPU model: no EVC needed)."""
    text = (NODES / "host-c.xml").read_text()
    text = re.sub(r"<memory>\d+</memory>", f"<memory>{SMALL_HOST_KIB}</memory>", text, count=1)
    path = tmp_path / f"{name}.xml"
    path.write_text(text)
    return f"test://{path}"


class Api:
    """The REST API from the signed-in browser session (CSRF header from the cookie)."""

    def __init__(self, page):
        self.page = page
        token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
        self.headers = {"X-CSRFToken": token, "Content-Type": "application/json", "Referer": page.url}

    def get(self, url):
        response = self.page.request.get(url)
        assert response.ok, f"GET {url}: {response.status} {response.text()}"
        return response.json()

    def post(self, url, body=None):
        response = self.page.request.post(url, data=json.dumps(body or {}), headers=self.headers)
        assert response.ok, f"POST {url}: {response.status} {response.text()}"
        return response.json()

    def wait(self, url, field, value):
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            body = self.get(url)
            if body[field] == value:
                return body
            time.sleep(0.3)
        raise AssertionError(f"{url}: {field} is {body[field]!r}, not {value!r}")

    def first(self, url):
        return self.get(url)["results"][0]


def test_an_admin_approves_a_drs_recommendation_and_watches_it_apply(login, tmp_path):
    page = login("admin")
    page.goto("/scheduler/")
    api = Api(page)
    tag = uuid.uuid4().hex[:6]
    cluster = api.post("/api/v1/clusters/", {"name": f"drs-{tag}"})
    host_ids = []
    for n in range(2):
        name = f"small-{tag}-{n}"
        api.post("/api/v1/hosts/", {"name": name, "uri": small_node(tmp_path, name), "cluster": cluster["id"]})
        host = api.first(f"/api/v1/hosts/?search={name}")
        api.wait(f"/api/v1/hosts/{host['id']}/", "state", "up")
        host_ids.append(host["id"])
    flavor = api.first("/api/v1/flavors/?search=m1.tiny")
    image = api.first("/api/v1/images/?search=cirros-demo")
    project = next(p for p in api.get("/api/v1/projects/")["results"] if p["name"] == "acme")
    for n in range(INSTANCES):
        op = api.post(
            "/api/v1/instances/",
            {
                "name": f"lopsided-{tag}-{n}",
                "flavor": flavor["id"],
                "image": image["id"],
                "project": project["id"],
                "host": host_ids[0],
            },
        )
        api.wait(f"/api/v1/operations/{op['id']}/", "status", "succeeded")

    page.goto(f"/scheduler/clusters/{cluster['id']}/")
    page.click("#run-drs")
    row = page.locator("tr[data-recommendation]").first
    expect(row.locator("[data-field=state]")).to_have_text("Proposed")
    expect(row).to_contain_text(f"small-{tag}-0 → small-{tag}-1")
    page.evaluate("window.__noReload = true")
    row.locator("button:has-text('Approve')").click()
    # The approve redirects back once; from then on only htmx refreshes the table.
    page.wait_for_load_state()
    page.evaluate("window.__noReload = true")
    row = page.locator("tr[data-recommendation]").first
    expect(row.locator("[data-field=state]")).to_have_text("Applied", timeout=MIGRATION_TIMEOUT_MS)
    assert page.evaluate("window.__noReload === true"), "the page reloaded instead of refreshing the table"
    after = float(row.locator("[data-field=imbalance-after]").inner_text())
    assert after < 0.1
    instances = api.get(f"/api/v1/instances/?search=lopsided-{tag}")["results"]
    assert {i["host"] for i in instances} == set(host_ids)
