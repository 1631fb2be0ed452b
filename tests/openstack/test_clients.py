"""The real, unmodified OpenStack clients from PyPI (python-openstackclient's `openstack`
command, openstacksdk) against a portal started here: the embedded default in its own data
directory, its networks realised in a real OVN Northbound ovsdb-server (routers and security
groups need OVN). One portal for the module; each CLI command's exit status and JSON checked.
The wall time of every CLI command is printed at the end (the CLI's start-up dominates)."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from network.ovn.local_server import NbServer, ServerUnavailable, missing_tools
from tests.browser.conftest import DEMO_PASSWORD, ROOT, portal_environment, run_shell, serve_portal
from tests.compute.test_image_upload import qcow2_bytes

pytestmark = pytest.mark.clients
OPENSTACK = Path(sys.executable).parent / "openstack"
PLAYBOOK_RUNNER = Path(sys.executable).parent / "ansible-playbook"
PLAYBOOK = Path(__file__).parent / "ansible_day.yml"
WAIT_S = 60
DAY_TIMEOUT_S = 900  # about 55 commands; each CLI start is 1.5-2 s idle, 5-10 s on a loaded 2-core machine
TIMINGS = []

# Made through the services in a shell on the portal's database (tasks eager, against the same
# NB): the external network only a cloud admin may make (unless the demo seed made it, as it does
# on OVN: network/demo.py, the same CIDR), and an API token for alice. The demo's
# pool 'demo-shared', seen by every simulated host, takes the volumes (the most-shared pool).
SETUP = """
import json
from django.contrib.auth import get_user_model
from network import services
from portal.models import ApiToken, Project
users, acme = get_user_model().objects, Project.objects.get(name="acme")
admin, alice = users.get(username="admin"), users.get(username="alice")
from network.models import Network
if not Network.objects.filter(name="public", external=True).exists():  # the demo seed makes it on OVN
    public, _ = services.create_network(admin, acme, name="public", external=True, shared=False)
    services.create_subnet(admin, public, cidr="203.0.113.0/24", gateway_ip="203.0.113.1")
_, alice_token = ApiToken.issue(alice, "terraform")
print(json.dumps({"alice_token": alice_token}))
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    if not OPENSTACK.exists():
        pytest.skip(f"{OPENSTACK} is missing: pip install -r requirements-dev.txt")
    nb = NbServer(tmp_path_factory.mktemp("os-ovnnb"))
    try:
        nb.start()
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    data = tmp_path_factory.mktemp("portal-openstack")
    env = portal_environment(data, NUBES_OVN_NB=nb.endpoint)
    portal = serve_portal(env)
    try:
        url = next(portal)
        made = json.loads(run_shell({**env, "NUBES_CELERY_EAGER": "1"}, SETUP).strip().splitlines()[-1])
        yield {"url": url, "env": env, "data": data, **made}
    finally:
        portal.close()  # stops the portal by its PID
        nb.stop()
        print_timings()


def print_timings():
    if TIMINGS:
        total = sum(seconds for _, seconds in TIMINGS)
        print(f"\nopenstack CLI: {len(TIMINGS)} commands, {total:.1f} s, {total / len(TIMINGS):.2f} s each on average")
        for words, seconds in sorted(TIMINGS, key=lambda t: -t[1])[:5]:
            print(f"  {seconds:5.2f} s  openstack {words}")


def client_env(cloud, user, project):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(
        OS_AUTH_URL=f"{cloud['url']}/openstack/identity/v3",
        OS_USERNAME=user,
        OS_PASSWORD=DEMO_PASSWORD,
        OS_PROJECT_NAME=project,
        OS_USER_DOMAIN_NAME="Default",
        OS_PROJECT_DOMAIN_NAME="Default",
        OS_IDENTITY_API_VERSION="3",
        OS_INTERFACE="public",
        OS_REGION_NAME="RegionOne",
    )
    return env


class Cli:
    def __init__(self, env):
        self.env = env

    def run(self, *args):
        started = time.monotonic()
        result = subprocess.run(
            [str(OPENSTACK), *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=180
        )
        TIMINGS.append((" ".join(args[:3]), time.monotonic() - started))
        return result

    def ok(self, *args):
        result = self.run(*args)
        assert result.returncode == 0, f"openstack {' '.join(args)}: {result.stderr[-2000:]}"
        return result.stdout

    def json(self, *args):
        return json.loads(self.ok(*args, "-f", "json"))

    def fails(self, *args):
        result = self.run(*args)
        assert result.returncode != 0, f"openstack {' '.join(args)} should have failed: {result.stdout[-1000:]}"
        return result.stderr

    def until(self, what, *args, check):
        deadline = time.monotonic() + WAIT_S
        while True:
            value = self.json(*args)
            if check(value):
                return value
            assert time.monotonic() < deadline, f"{what}: still {value}"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def alice(cloud):
    return Cli(client_env(cloud, "alice", "acme"))


def test_token_issue_and_the_catalog(cloud, alice):
    token = alice.json("token", "issue")
    assert token["project_id"] and token["user_id"] and token["expires"]
    services = {entry["Type"]: entry for entry in alice.json("catalog", "list")}
    assert set(services) == {"identity", "compute", "image", "network", "volumev3"}
    endpoints = services["compute"]["Endpoints"]
    assert endpoints[0]["region"] == "RegionOne" and endpoints[0]["interface"] == "public"
    assert endpoints[0]["url"] == f"{cloud['url']}/openstack/compute/v2.1"


@pytest.mark.timeout(DAY_TIMEOUT_S)
def test_a_tenants_day_with_openstackclient(cloud, alice):
    flavors = {f["Name"]: f for f in alice.json("flavor", "list")}
    assert {"m1.tiny", "m1.small"} <= set(flavors) and flavors["m1.tiny"]["VCPUs"] == 1
    assert [i["Name"] for i in alice.json("image", "list")] == ["cirros-demo"]
    key = alice.json("keypair", "create", "--public-key", str(public_key(cloud)), "day-key")
    assert key["name"] == "day-key" and key["fingerprint"].startswith("SHA256:")
    net = alice.json("network", "create", "day-net")
    subnet = alice.json("subnet", "create", "--network", "day-net", "--subnet-range", "10.77.0.0/24", "day-subnet")
    assert (subnet["network_id"], subnet["gateway_ip"]) == (net["id"], "10.77.0.1")
    router = alice.json("router", "create", "day-router")
    alice.ok("router", "set", "--external-gateway", "public", "day-router")
    alice.ok("router", "add", "subnet", "day-router", "day-subnet")
    shown = alice.json("router", "show", "day-router")
    assert shown["external_gateway_info"]["external_fixed_ips"][0]["ip_address"].startswith("203.0.113.")
    assert [i["subnet_id"] for i in shown["interfaces_info"]] == [subnet["id"]]
    group = alice.json("security", "group", "create", "day-web")
    rule = alice.json("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", "day-web")
    assert (rule["port_range_min"], rule["port_range_max"], rule["protocol"]) == (22, 22, "tcp")
    server = alice.json(
        "server", "create", "--image", "cirros-demo", "--flavor", "m1.tiny", "--network", "day-net",
        "--key-name", "day-key", "--security-group", "day-web", "--wait", "day-vm",
    )  # fmt: skip
    assert (server["status"], server["key_name"]) == ("ACTIVE", "day-key")
    assert [g["name"] for g in server["security_groups"]] == ["day-web"]
    alice.ok("server", "remove", "security", "group", "day-vm", "day-web")
    assert alice.json("server", "show", "day-vm")["security_groups"] == []
    alice.ok("server", "add", "security", "group", "day-vm", "day-web")
    assert [g["name"] for g in alice.json("server", "show", "day-vm")["security_groups"]] == ["day-web"]
    assert server["addresses"]["day-net"][0].startswith("10.77.0.")
    fip = alice.json("floating", "ip", "create", "public")
    alice.ok("server", "add", "floating", "ip", "day-vm", fip["floating_ip_address"])
    addresses = alice.json("server", "show", "day-vm")["addresses"]["day-net"]
    assert fip["floating_ip_address"] in addresses
    volume = alice.json("volume", "create", "--size", "1", "day-vol")
    alice.until("volume", "volume", "show", "day-vol", check=lambda v: v["status"] == "available")
    alice.ok("server", "add", "volume", "day-vm", "day-vol")
    attached = alice.until("attach", "volume", "show", "day-vol", check=lambda v: v["status"] == "in-use")
    assert attached["attachments"][0]["server_id"] == server["id"]

    charlie = Cli(client_env(cloud, "charlie", "globex"))
    for kind, ident in (("server", server["id"]), ("network", net["id"]), ("volume", volume["id"])):
        refused = charlie.fails(kind, "show", ident)
        assert "404" in refused or "No " in refused or "not be found" in refused, refused
    assert charlie.json("server", "list") == [] and charlie.json("volume", "list") == []
    seen = {n["Name"] for n in charlie.json("network", "list")}
    assert "public" in seen and "day-net" not in seen  # an external network is everyone's

    alice.ok("server", "stop", "day-vm")
    stopped = alice.until("stop", "server", "show", "day-vm", check=lambda s: s["status"] == "SHUTOFF")
    assert stopped["OS-EXT-STS:power_state"] in (4, "Shutdown")
    assert "simulated host" in alice.ok("console", "log", "show", "day-vm")
    alice.ok("server", "start", "day-vm")
    alice.until("start", "server", "show", "day-vm", check=lambda s: s["status"] == "ACTIVE")
    alice.ok("server", "reboot", "--wait", "day-vm")
    listed = alice.json("server", "list")
    assert [(s["Name"], s["Status"], s["Image"], s["Flavor"]) for s in listed] == [
        ("day-vm", "ACTIVE", "cirros-demo", "m1.tiny")
    ]

    alice.ok("server", "remove", "volume", "day-vm", "day-vol")
    alice.until("detach", "volume", "show", "day-vol", check=lambda v: v["status"] == "available")
    alice.ok("volume", "delete", "day-vol")
    alice.ok("server", "delete", "--wait", "day-vm")
    alice.ok("floating", "ip", "delete", fip["id"])
    alice.ok("router", "remove", "subnet", "day-router", "day-subnet")
    alice.ok("router", "unset", "--external-gateway", "day-router")
    alice.ok("router", "delete", router["id"])
    alice.ok("subnet", "delete", "day-subnet")
    alice.ok("network", "delete", "day-net")
    alice.ok("security", "group", "delete", group["id"])
    alice.ok("keypair", "delete", "day-key")
    assert alice.json("server", "list") == []
    assert alice.json("router", "list") == [] and alice.json("floating", "ip", "list") == []
    assert "day-net" not in {n["Name"] for n in alice.json("network", "list")}
    alice.until("volume gone", "volume", "list", check=lambda volumes: volumes == [])


def public_key(cloud):
    path = cloud["data"] / "day-key.pub"
    if not path.exists():
        path.write_text(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGp4T9wZ8e0n7dW3v0yQm6b1H2d8J2x4Q3k7cJ9g5Vtl alice@laptop\n"
        )
    return path


def test_readers_are_refused_and_application_credentials_work(cloud):
    bob = Cli(client_env(cloud, "bob", "acme"))
    refused = bob.fails("server", "create", "--image", "cirros-demo", "--flavor", "m1.tiny", "bob-vm")
    assert "403" in refused and "Readers cannot change servers" in refused
    assert "403" in bob.fails("network", "create", "bob-net")
    assert bob.json("server", "list") == []
    key_id, secret = cloud["alice_token"].split("_", 2)[1:]
    env = {k: v for k, v in client_env(cloud, "x", "x").items() if k not in ("OS_USERNAME", "OS_PASSWORD")}
    env = {k: v for k, v in env.items() if "PROJECT" not in k and "DOMAIN" not in k}
    env.update(
        OS_AUTH_TYPE="v3applicationcredential",
        OS_APPLICATION_CREDENTIAL_ID=key_id,
        OS_APPLICATION_CREDENTIAL_SECRET=secret,
    )
    ci = Cli(env)
    token = ci.json("token", "issue")
    assert token["project_id"] and token["user_id"]
    assert ci.json("server", "list") == []
    ci.ok("token", "revoke", token["id"])
    request = urllib.request.Request(
        f"{cloud['url']}/openstack/compute/v2.1/servers", headers={"X-Auth-Token": token["id"]}
    )
    with pytest.raises(urllib.error.HTTPError) as revoked:
        urllib.request.urlopen(request, timeout=10)
    assert revoked.value.code == 401


def clouds_yaml(cloud, name, token=None, user="alice", project="acme"):
    """The clouds.yaml `manage.py openstack_config` prints for the user, written to a file."""
    args = ["--user", user, "--project", project, "--url", cloud["url"], "--cloud", name]
    if token:
        args += ["--token", token]
    text = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "openstack_config", *args],
        env=cloud["env"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = cloud["data"] / f"clouds-{name}.yaml"
    path.write_text(text)
    return path


def sdk_connection(cloud, name, token=None, user="alice", project="acme"):
    """openstacksdk from the user's clouds.yaml."""
    import openstack
    from openstack import config as sdk_config

    path = clouds_yaml(cloud, name, token, user, project)
    extra = {} if token else {"password": DEMO_PASSWORD}
    region = sdk_config.OpenStackConfig(config_files=[str(path)]).get_one(cloud=name, **extra)
    return openstack.connection.Connection(config=region)


def test_server_groups_with_openstackclient(cloud, alice):
    group = alice.json("server", "group", "create", "--policy", "anti-affinity", "cli-apart")
    assert group["name"] == "cli-apart" and "anti-affinity" in str(group.get("policy") or group.get("policies"))
    assert [g["Name"] for g in alice.json("server", "group", "list")] == ["cli-apart"]
    servers = [
        alice.json(
            "server", "create", "--image", "cirros-demo", "--flavor", "m1.tiny", "--nic", "none",
            "--hint", f"group={group['id']}", "--wait", name,
        )["id"]
        for name in ("apart-1", "apart-2")
    ]  # fmt: skip
    assert sorted(alice.json("server", "group", "show", "cli-apart")["members"]) == sorted(servers)
    alice.ok("server", "delete", "--wait", *servers)
    alice.ok("server", "group", "delete", "cli-apart")
    assert alice.json("server", "group", "list") == []


def test_the_same_day_with_openstacksdk_and_charlie_sees_none_of_it(cloud):
    from openstack import exceptions

    started = time.monotonic()
    conn = sdk_connection(cloud, "alice-ci", token=cloud["alice_token"])
    public = conn.network.find_network("public", ignore_missing=False)
    net = conn.network.create_network(name="sdk-net")
    subnet = conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.88.0.0/24", name="sdk-subnet")
    router = conn.network.create_router(name="sdk-router", external_gateway_info={"network_id": public.id})
    conn.network.add_interface_to_router(router, subnet_id=subnet.id)
    group = conn.network.create_security_group(name="sdk-web")
    conn.network.create_security_group_rule(
        security_group_id=group.id, direction="ingress", protocol="tcp", port_range_min=80, port_range_max=80
    )
    keypair = conn.compute.create_keypair(name="sdk-key")
    assert "PRIVATE KEY" in keypair.private_key
    image = conn.image.find_image("cirros-demo", ignore_missing=False)
    flavor = conn.compute.find_flavor("m1.tiny", ignore_missing=False)
    server = conn.compute.create_server(
        name="sdk-vm",
        image_id=image.id,
        flavor_id=flavor.id,
        networks=[{"uuid": net.id}],
        key_name="sdk-key",
        security_groups=[{"name": "sdk-web"}],
    )
    server = conn.compute.wait_for_server(server, wait=WAIT_S)
    assert server.status == "ACTIVE" and server.addresses["sdk-net"][0]["addr"].startswith("10.88.0.")
    port = next(iter(conn.network.ports(device_id=server.id)))
    fip = conn.network.create_ip(floating_network_id=public.id)
    conn.network.update_ip(fip, port_id=port.id)
    assert conn.network.get_ip(fip.id).fixed_ip_address == server.addresses["sdk-net"][0]["addr"]
    volume = conn.block_storage.create_volume(size=1, name="sdk-vol")
    conn.block_storage.wait_for_status(volume, "available", wait=WAIT_S)
    conn.compute.create_volume_attachment(server, volume_id=volume.id)
    conn.block_storage.wait_for_status(volume, "in-use", wait=WAIT_S)
    conn.compute.stop_server(server)
    conn.compute.wait_for_server(server, status="SHUTOFF", wait=WAIT_S)
    assert "simulated host" in conn.compute.get_server_console_output(server)["output"]

    charlie = sdk_connection(cloud, "charlie", user="charlie", project="globex")
    for get, ident in (
        (charlie.compute.get_server, server.id),
        (charlie.network.get_network, net.id),
        (charlie.network.get_router, router.id),
        (charlie.network.get_ip, fip.id),
        (charlie.network.get_security_group, group.id),
        (charlie.block_storage.get_volume, volume.id),
    ):
        with pytest.raises(exceptions.NotFoundException):
            get(ident)
    with pytest.raises(exceptions.NotFoundException):
        charlie.compute.delete_server(server.id, ignore_missing=False)
    assert list(charlie.compute.servers()) == [] and list(charlie.block_storage.volumes()) == []
    assert list(charlie.network.routers()) == [] and list(charlie.network.ips()) == []

    conn.compute.delete_volume_attachment(server, volume.id)
    conn.block_storage.wait_for_status(volume, "available", wait=WAIT_S)
    conn.block_storage.delete_volume(volume)
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=WAIT_S)
    conn.network.delete_ip(fip)
    conn.network.remove_interface_from_router(router, subnet_id=subnet.id)
    conn.network.update_router(router, external_gateway_info={})
    conn.network.delete_router(router)
    conn.network.delete_subnet(subnet)
    conn.network.delete_network(net)
    conn.network.delete_security_group(group)
    conn.compute.delete_keypair("sdk-key")
    assert list(conn.compute.servers()) == [] and list(conn.network.routers()) == []
    assert "sdk-net" not in {n.name for n in conn.network.networks()}
    print(f"\nopenstacksdk scenario: {time.monotonic() - started:.1f} s")


@pytest.mark.timeout(DAY_TIMEOUT_S)
def test_resize_snapshots_images_and_an_admins_live_migration_with_openstackclient(cloud, alice):
    admin, charlie = Cli(client_env(cloud, "admin", "acme")), Cli(client_env(cloud, "charlie", "globex"))
    data = cloud["data"] / "tiny.qcow2"
    data.write_bytes(qcow2_bytes(length=1024 * 1024))
    assert "403" in alice.fails("image", "create", "--disk-format", "qcow2", "--file", str(data), "alice-image")
    image = admin.json(
        "image", "create", "--disk-format", "qcow2", "--container-format", "bare", "--private",
        "--file", str(data), "day-image",
    )  # fmt: skip
    assert (image["status"], image["size"]) == ("active", data.stat().st_size)
    saved = cloud["data"] / "saved.qcow2"
    alice.ok("image", "save", "--file", str(saved), "day-image")
    assert saved.read_bytes() == data.read_bytes()
    assert "day-image" not in {i["Name"] for i in charlie.json("image", "list")}
    assert "403" in alice.fails("image", "delete", image["id"])

    # No network: a server with OVN ports moves only where the OVN Southbound says the target is
    # a chassis, and this portal has the Northbound alone.
    server = alice.json(
        "server", "create", "--image", "cirros-demo", "--flavor", "m1.tiny", "--property", "role=web", "--wait", "rs-vm"
    )  # fmt: skip
    alice.ok("server", "set", "--property", "tier=front", "rs-vm")
    alice.ok("server", "unset", "--property", "role", "rs-vm")
    assert alice.json("server", "show", "rs-vm")["properties"] in ({"tier": "front"}, "tier='front'")
    assert "simulated host" in alice.fails("console", "url", "show", "--novnc", "rs-vm")
    alice.ok("server", "stop", "rs-vm")
    alice.until("stop", "server", "show", "rs-vm", check=lambda s: s["status"] == "SHUTOFF")
    alice.ok("server", "resize", "--flavor", "m1.small", "--wait", "rs-vm")
    resized = alice.json("server", "show", "rs-vm")
    assert (resized["status"], resized["flavor"].split(" ")[0]) == ("VERIFY_RESIZE", "m1.small"), resized
    assert "No Server found" in charlie.fails("server", "resize", "confirm", server["id"])
    alice.ok("server", "resize", "confirm", "rs-vm")
    assert alice.json("server", "show", "rs-vm")["status"] == "SHUTOFF"

    alice.ok("server", "start", "rs-vm")
    alice.until("start", "server", "show", "rs-vm", check=lambda s: s["status"] == "ACTIVE")
    assert "403" in alice.fails("server", "migrate", "--live-migration", server["id"])
    before = admin.json("server", "show", server["id"])["OS-EXT-SRV-ATTR:host"]
    admin.ok("server", "migrate", "--live-migration", "--wait", server["id"])
    moved = admin.json("server", "show", server["id"])
    assert moved["status"] == "ACTIVE" and moved["OS-EXT-SRV-ATTR:host"] not in (before, None)
    migrations = admin.json("server", "migration", "list", "--server", server["id"])
    assert [(m["Source Compute"], m["Dest Compute"], m["Status"]) for m in migrations] == [
        (before, moved["OS-EXT-SRV-ATTR:host"], "completed")
    ]
    hypervisors = {h["Hypervisor Hostname"]: h for h in admin.json("hypervisor", "list")}
    assert before in hypervisors and hypervisors[before]["Hypervisor Type"] == "QEMU"
    shown = admin.json("hypervisor", "show", before)  # reads os-hypervisors/{id}/uptime and os-aggregates
    assert (shown["hypervisor_hostname"], shown["uptime"], shown["load_average"]) == (
        before,
        "unknown",
        "unknown, unknown, unknown",
    ) and shown["aggregates"], shown
    assert "403" in alice.fails("hypervisor", "show", before)
    assert "403" in alice.fails("hypervisor", "list") and "403" in alice.fails("server", "migration", "list")

    # Nova's createImage of the running server, waited for in Glance; private to acme.
    made = alice.json("server", "image", "create", "--name", "rs-image", "--wait", "rs-vm")
    shown = alice.json("image", "show", made["id"])
    assert (shown["status"], shown["visibility"], shown["disk_format"]) == ("active", "private", "qcow2"), shown
    assert "rs-image" not in {i["Name"] for i in charlie.json("image", "list")}
    assert "No Server found" in charlie.fails("server", "image", "create", "--name", "theirs", server["id"])
    alice.ok("image", "delete", made["id"])

    alice.json("volume", "create", "--size", "1", "rs-vol")
    alice.until("volume", "volume", "show", "rs-vol", check=lambda v: v["status"] == "available")
    snapshot = alice.json("volume", "snapshot", "create", "--volume", "rs-vol", "rs-snap")
    alice.until("snapshot", "volume", "snapshot", "show", "rs-snap", check=lambda s: s["status"] == "available")
    assert charlie.json("volume", "snapshot", "list") == []
    assert "No Snapshot found" in charlie.fails("volume", "snapshot", "show", snapshot["id"])
    alice.until("volume idle", "volume", "show", "rs-vol", check=lambda v: v["status"] == "available")
    alice.ok("volume", "set", "--size", "2", "rs-vol")
    alice.until("extend", "volume", "show", "rs-vol", check=lambda v: v["size"] == 2 and v["status"] == "available")
    alice.ok("volume", "snapshot", "delete", "rs-snap")
    alice.until("snapshot gone", "volume", "snapshot", "list", check=lambda snapshots: snapshots == [])

    alice.ok("volume", "delete", "rs-vol")
    alice.ok("server", "delete", "--wait", "rs-vm")
    admin.ok("image", "delete", image["id"])


@pytest.mark.timeout(DAY_TIMEOUT_S)
def test_ansible_openstack_cloud_modules_make_and_remove_a_tenants_infrastructure(cloud):
    """The ansible package's openstack.cloud collection, from the application credential's
    clouds.yaml: the second `present` run changes nothing (idempotence)."""
    if not PLAYBOOK_RUNNER.exists():
        pytest.skip(f"{PLAYBOOK_RUNNER} is missing: pip install -r requirements-dev.txt")
    clouds = clouds_yaml(cloud, "nubes", token=cloud["alice_token"])
    home = cloud["data"] / "ansible"
    # openstack.cloud 2.5.0 (in ansible 12.3.0) reads openstack.version.__version__ without
    # importing the submodule, which openstacksdk 4.22 no longer imports itself: every module
    # fails with "module 'openstack' has no attribute 'version'". Import it at interpreter start.
    (home / "site").mkdir(parents=True)
    (home / "site" / "sitecustomize.py").write_text("import openstack.version  # noqa: F401\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(
        OS_CLIENT_CONFIG_FILE=str(clouds),
        ANSIBLE_HOME=str(home),
        ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_NOCOLOR="1",
        PYTHONPATH=str(home / "site"),
    )

    def play(state):
        started = time.monotonic()
        result = subprocess.run(
            [str(PLAYBOOK_RUNNER), "-i", "localhost,", str(PLAYBOOK), "-e", f"state={state}",
             "-e", f"public_key='{public_key(cloud).read_text().strip()}'"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        print(f"\nansible-playbook state={state}: {time.monotonic() - started:.1f} s")
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        return json.loads(result.stdout)["stats"]["localhost"]

    first = play("present")
    assert first["failures"] == 0 and first["changed"] == 8, first
    conn = sdk_connection(cloud, "alice-ansible", token=cloud["alice_token"])
    server = conn.compute.find_server("ans-vm", ignore_missing=False)
    assert server.status == "ACTIVE" and "ans-net" in server.addresses
    assert conn.block_storage.find_volume("ans-vol", ignore_missing=False).status == "in-use"
    assert play("present")["changed"] == 0
    assert play("absent")["changed"] == 7
    assert conn.compute.find_server("ans-vm") is None and conn.network.find_network("ans-net") is None
    assert conn.block_storage.find_volume("ans-vol") is None
