"""The OpenStack-compatible API's cost next to the native one (issue #16's figures), in-process
on a throwaway SQLite database with Celery eager and simulated hosts (libvirt's test driver):

1. the scenario: the calls of the openstackclient scenario that run without OVN (flavors,
   images, a key pair, a network and subnet, a server created, shown, stopped, started,
   rebooted, a volume created, attached, detached and deleted, the server list, then everything
   deleted) made both ways, through /openstack/... with a Keystone token and through /api/v1/
   with an API token, the same services behind both: wall time per call and the adapter's
   overhead (ms per call). Routers, security groups and floating IPs need OVN and are left out;
   the console log has no native call (it is on the instance's page).
2. `openstack server list` at scale: `GET /servers/detail` of 1,000 servers against the native
   list at its largest page, and one server's show both ways. Median and p95, SQL queries.
3. `openstack server list` itself at those servers: the real CLI (a process per run) against this
   database served over HTTP from a thread.

    .venv/bin/python bench/openstack_api.py [--rounds 10] [--servers 1000] [--requests 20] [--cli-runs 10]

Prints figures; asserts nothing but the answers' statuses. The real CLI's wall time per command
is printed by tests/openstack/test_clients.py (its start-up dominates: see the README).
"""

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from django_env import DATA_DIR, ROOT

from compute_ops import p95
from django.contrib.auth import get_user_model
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from compute.choices import Visibility
from compute.models import Cluster, Flavor, Host, Image, Instance
from compute.tasks import hosts as host_tasks
from openstack_api.models import KeystoneToken
from portal.models import ApiToken, Membership, Project, Quota
from storage import services as storage_services
from storage.models import StoragePool

NATIVE_PAGE = 500  # the native API's largest page
NODES = ROOT / "hypervisor" / "nodes"
NOVA, NEUTRON, CINDER = "/openstack/compute/v2.1", "/openstack/network/v2.0", "/openstack/volume/v3"
GLANCE = "/openstack/image/v2"
OPENSTACK = Path(sys.executable).parent / "openstack"
UUID_LENGTH = 36
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGp4T9wZ8e0n7dW3v0yQm6b1H2d8J2x4Q3k7cJ9g5Vtl bench@laptop"


class Api:
    """A JSON client with one header; call() checks the status and returns the decoded body."""

    def __init__(self, headers):
        self.client = Client(headers=headers)

    def call(self, method, path, body=None, expect=(200,)):
        if body is None:
            response = getattr(self.client, method)(path)
        else:
            response = getattr(self.client, method)(path, data=json.dumps(body), content_type="application/json")
        assert response.status_code in expect, (method, path, response.status_code, response.content[:400])
        return json.loads(response.content) if response.content else None


def seed_world():
    admin = get_user_model().objects.create_superuser("admin", password="x")
    member = get_user_model().objects.create_user("member", password="x")
    project = Project.objects.create(name="bench")
    Quota.objects.filter(project=project).update(limit=10**9)
    Membership.objects.create(project=project, user=member, role="member")
    cluster = Cluster.objects.create(name="bench")
    hosts = []
    for name in ("host-a", "host-b"):
        host = Host.objects.create(name=name, uri=f"test://{NODES / f'{name}.xml'}", cluster=cluster)
        hosts.append(host_tasks.read_facts_now(host))
    storage_services.define_pool(
        admin, hosts=hosts, name="shared", libvirt_name="default", type="dir", target_path="/var/lib/libvirt/images"
    )
    flavor = Flavor.objects.create(name="m1.tiny", vcpus=1, ram_mb=64, disk_gb=1)
    image = Image.objects.create(name="cirros", volume="cirros.qcow2", virtual_size_gb=1, visibility=Visibility.PUBLIC)
    _, keystone = KeystoneToken.issue(member, project, "password")
    _, native = ApiToken.issue(member, "bench")
    return project, flavor, image, Api({"X-Auth-Token": keystone}), Api({"Authorization": f"Bearer {native}"})


def openstack_day(api, n, flavor, image):
    """The scenario through the OpenStack API; yields (step, call) pairs, run and timed by the caller."""
    state = {}
    yield "flavor list", lambda: api.call("get", f"{NOVA}/flavors/detail")
    yield "image list", lambda: api.call("get", f"{GLANCE}/images")
    yield (
        "keypair create",
        lambda: api.call("post", f"{NOVA}/os-keypairs", {"keypair": {"name": f"k{n}", "public_key": PUBLIC_KEY}}),
    )
    yield (
        "network create",
        lambda: state.update(
            net=api.call("post", f"{NEUTRON}/networks", {"network": {"name": f"net{n}"}}, (201,))["network"]["id"]
        ),
    )
    yield (
        "subnet create",
        lambda: state.update(
            subnet=api.call(
                "post",
                f"{NEUTRON}/subnets",
                {"subnet": {"network_id": state["net"], "cidr": f"10.{n % 250}.0.0/24", "ip_version": 4}},
                (201,),
            )["subnet"]["id"]
        ),
    )
    server = {"name": f"vm{n}", "imageRef": str(image.pk), "flavorRef": str(flavor.pk), "key_name": f"k{n}",
              "networks": [{"uuid": None}]}  # fmt: skip
    yield (
        "server create",
        lambda: state.update(
            server=api.call(
                "post", f"{NOVA}/servers", {"server": {**server, "networks": [{"uuid": state["net"]}]}}, (202,)
            )["server"]["id"]
        ),
    )
    yield "server show", lambda: api.call("get", f"{NOVA}/servers/{state['server']}")
    for step, action in (("server stop", {"os-stop": None}), ("server start", {"os-start": None}),
                         ("server reboot", {"reboot": {"type": "SOFT"}})):  # fmt: skip
        yield step, lambda action=action: api.call("post", f"{NOVA}/servers/{state['server']}/action", action, (202,))
    yield (
        "volume create",
        lambda: state.update(
            volume=api.call("post", f"{CINDER}/volumes", {"volume": {"size": 1, "name": f"vol{n}"}}, (202,))["volume"][
                "id"
            ]
        ),
    )
    yield (
        "volume attach",
        lambda: api.call(
            "post",
            f"{NOVA}/servers/{state['server']}/os-volume_attachments",
            {"volumeAttachment": {"volumeId": state["volume"]}},
        ),
    )
    yield (
        "volume detach",
        lambda: api.call(
            "delete", f"{NOVA}/servers/{state['server']}/os-volume_attachments/{state['volume']}", expect=(202,)
        ),
    )
    yield "volume delete", lambda: api.call("delete", f"{CINDER}/volumes/{state['volume']}", expect=(202,))
    yield "server list", lambda: api.call("get", f"{NOVA}/servers/detail")
    yield "server delete", lambda: api.call("delete", f"{NOVA}/servers/{state['server']}", expect=(204,))
    yield "subnet delete", lambda: api.call("delete", f"{NEUTRON}/subnets/{state['subnet']}", expect=(204,))
    yield "network delete", lambda: api.call("delete", f"{NEUTRON}/networks/{state['net']}", expect=(204,))
    yield "keypair delete", lambda: api.call("delete", f"{NOVA}/os-keypairs/k{n}", expect=(202,))


def native_day(api, n, flavor, image, project):
    """The same calls through /api/v1/."""
    state = {}
    v1 = "/api/v1"
    yield "flavor list", lambda: api.call("get", f"{v1}/flavors/")
    yield "image list", lambda: api.call("get", f"{v1}/images/")
    yield (
        "keypair create",
        lambda: state.update(
            key=api.call(
                "post", f"{v1}/keypairs/", {"project": project.pk, "name": f"k{n}", "public_key": PUBLIC_KEY}, (201,)
            )["id"]
        ),
    )
    yield (
        "network create",
        lambda: state.update(
            net=api.call("post", f"{v1}/networks/", {"project": project.pk, "name": f"net{n}"}, (201,))["id"]
        ),
    )
    yield (
        "subnet create",
        lambda: state.update(
            subnet=api.call(
                "post", f"{v1}/subnets/", {"network": state["net"], "cidr": f"10.{n % 250}.0.0/24"}, (201,)
            )["id"]
        ),
    )
    yield "server create", lambda: state.update(server=api.call(
        "post", f"{v1}/instances/",
        {"project": project.pk, "name": f"vm{n}", "flavor": flavor.pk, "image": image.pk, "key_pair": state["key"],
         "networks": [state["net"]]},
        (202,),
    )["target_id"])  # fmt: skip
    yield "server show", lambda: api.call("get", f"{v1}/instances/{state['server']}/")
    for step, verb, body in (("server stop", "stop", {}), ("server start", "start", {}),
                             ("server reboot", "reboot", {})):  # fmt: skip
        yield (
            step,
            lambda verb=verb, body=body: api.call("post", f"{v1}/instances/{state['server']}/{verb}/", body, (202,)),
        )
    yield "volume create", lambda: state.update(volume=api.call(
        "post", f"{v1}/volumes/", {"project": project.pk, "name": f"vol{n}", "size_gb": 1,
                                   "pool": storage_pool_id()}, (202,))["target_id"])  # fmt: skip
    yield (
        "volume attach",
        lambda: api.call("post", f"{v1}/volumes/{state['volume']}/attach/", {"instance": state["server"]}, (202,)),
    )
    yield "volume detach", lambda: api.call("post", f"{v1}/volumes/{state['volume']}/detach/", {}, (202,))
    yield "volume delete", lambda: api.call("delete", f"{v1}/volumes/{state['volume']}/", expect=(202, 204))
    yield "server list", lambda: api.call("get", f"{v1}/instances/")
    yield "server delete", lambda: api.call("delete", f"{v1}/instances/{state['server']}/", expect=(202, 204))
    yield "subnet delete", lambda: api.call("delete", f"{v1}/subnets/{state['subnet']}/", expect=(202, 204))
    yield "network delete", lambda: api.call("delete", f"{v1}/networks/{state['net']}/", expect=(202, 204))
    yield "keypair delete", lambda: api.call("delete", f"{v1}/keypairs/{state['key']}/", expect=(204,))


def storage_pool_id():
    return StoragePool.objects.get(name="shared").pk


def run_day(steps, times):
    for step, call in steps:
        started = time.perf_counter()
        call()
        times.setdefault(step, []).append((time.perf_counter() - started) * 1000)


def bench_scenario(rounds):
    project, flavor, image, keystone, native = seed_world()
    openstack_ms, native_ms = {}, {}
    for n in range(rounds):  # alternated, so both see the same database size and machine load
        run_day(openstack_day(keystone, 2 * n, flavor, image), openstack_ms)
        run_day(native_day(native, 2 * n + 1, flavor, image, project), native_ms)
    print(f"The scenario's {len(openstack_ms)} calls, {rounds} rounds each way (median ms per call):")
    print(f"  {'call':<16} {'OpenStack':>10} {'native':>10} {'overhead':>10}")
    for step in openstack_ms:
        ours, theirs = statistics.median(openstack_ms[step]), statistics.median(native_ms[step])
        print(f"  {step:<16} {ours:10.1f} {theirs:10.1f} {ours - theirs:+10.1f}")
    totals = [sum(ms[i] for ms in openstack_ms.values()) for i in range(rounds)]
    native_totals = [sum(ms[i] for ms in native_ms.values()) for i in range(rounds)]
    calls = len(openstack_ms)
    median, native_median = statistics.median(totals), statistics.median(native_totals)
    print(
        f"  whole scenario: OpenStack median {median:.0f} ms, native {native_median:.0f} ms; "
        f"overhead {median - native_median:+.0f} ms, {(median - native_median) / calls:+.1f} ms per call"
    )
    left = Instance.objects.exclude(state="deleted").count()
    print(f"  servers not cleanly deleted: {left}")


def seed_servers(count):
    member = get_user_model().objects.create_user("lister", password="x")
    project = Project.objects.create(name="list")
    Membership.objects.create(project=project, user=member, role="member")
    cluster = Cluster.objects.create(name="list")
    host = Host.objects.create(name="h1", uri="qemu+ssh://root@h1.example/system", cluster=cluster, state="up")
    flavor = Flavor.objects.create(name="s1", vcpus=1, ram_mb=1024, disk_gb=10)
    image = Image.objects.create(name="list", volume="list.qcow2")
    Instance.objects.bulk_create(
        (
            Instance(
                project=project,
                name=f"vm{n}",
                flavor=flavor,
                image=image,
                host=host,
                vcpus=1,
                ram_mb=1024,
                disk_gb=10,
                state="active",
                power_state="running",
            )  # fmt: skip
            for n in range(count)
        ),
        batch_size=1000,
    )
    _, token = KeystoneToken.issue(member, project, "password")
    _, native = ApiToken.issue(member, "list")
    return token, native, Instance.objects.filter(project=project).first()


def measure(call, requests):
    latencies, queries = [], []
    for _ in range(requests):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = call()
            latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content[:300]
        queries.append(len(captured))
    return latencies, queries


def line(label, latencies, queries):
    print(
        f"  {label:<44} median {statistics.median(latencies):8.2f} ms   p95 {p95(latencies):8.2f} ms   "
        f"queries {min(queries)}-{max(queries)}"
    )


def bench_server_list(servers, requests):
    token, native_token, one = seed_servers(servers)
    print(f"{servers} servers in one project, {requests} requests each:")
    openstack = Client(headers={"X-Auth-Token": token})
    native = Client(headers={"Authorization": f"Bearer {native_token}"})
    line(
        f"OpenStack GET /servers/detail ({min(servers, 1000)} servers)",
        *measure(lambda: openstack.get(f"{NOVA}/servers/detail"), requests),
    )
    line(
        f"native GET /api/v1/instances/ (page of {NATIVE_PAGE})",
        *measure(lambda: native.get(f"/api/v1/instances/?page_size={NATIVE_PAGE}"), requests),
    )
    line("OpenStack GET /servers/{id}", *measure(lambda: openstack.get(f"{NOVA}/servers/{one.uuid}"), requests * 5))
    line(
        "native GET /api/v1/instances/{id}/", *measure(lambda: native.get(f"/api/v1/instances/{one.pk}/"), requests * 5)
    )
    line("OpenStack GET /flavors/detail", *measure(lambda: openstack.get(f"{NOVA}/flavors/detail"), requests * 5))


def bench_cli_server_list(runs):
    """`openstack server list` itself (the real CLI, a new process each run: start-up, a password
    sign-in, the catalog, the list) against the portal served over HTTP from a thread here."""
    if not OPENSTACK.exists():
        print(f"{OPENSTACK} is missing: the CLI's figure is skipped (pip install -r requirements-dev.txt)")
        return
    server = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    server.set_app(get_wsgi_application())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(
        OS_AUTH_URL=f"http://127.0.0.1:{server.server_port}/openstack/identity/v3", OS_USERNAME="lister",
        OS_PASSWORD="x", OS_PROJECT_NAME="list", OS_USER_DOMAIN_NAME="Default", OS_PROJECT_DOMAIN_NAME="Default",
        OS_IDENTITY_API_VERSION="3",
    )  # fmt: skip
    seconds, api_seconds = [], []
    try:
        for _ in range(runs):
            started = time.perf_counter()
            listed = subprocess.run(
                [str(OPENSTACK), "--timing", "server", "list", "-f", "value", "-c", "ID"],
                env=env, capture_output=True, text=True, timeout=300, check=True,
            )  # fmt: skip
            seconds.append(time.perf_counter() - started)
            # --timing appends a CSV of each API call's seconds and their "Total"
            api_seconds.append(float(listed.stdout.rsplit('"Total",', 1)[1].split()[0]))
        count = sum(1 for word in listed.stdout.split() if len(word) == UUID_LENGTH)
        print(
            f"  openstack server list ({count} servers, the CLI, {runs} runs)   "
            f"median {statistics.median(seconds):6.2f} s   p95 {p95(seconds):6.2f} s; "
            f"of which its API calls median {statistics.median(api_seconds):5.2f} s (the rest is the client's own)"
        )
    finally:
        server.shutdown()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--cli-runs", type=int, default=10, help="runs of the real openstack CLI (0: none)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    try:
        bench_scenario(args.rounds)
        bench_server_list(args.servers, args.requests)
        if args.cli_runs:
            bench_cli_server_list(args.cli_runs)
    finally:
        shutil.rmtree(DATA_DIR, ignore_errors=True)  # the throwaway database and data directory


if __name__ == "__main__":
    main()
