"""The managed database on the lab the way a tenant has it: the lab registered with its service
template, a tenant's OVN network, the database ordered through the API onto it (the portal builds
the guest, its data volume and its port), a client namespace plugged into host A's br-int as a
port of the same network (tests/integration/netns.py's Probe), and `psql` run from that
namespace to the database's address. Everything made here is removed at the end: services
through the API (out of band when that fails), the namespace, the NB rows of the module."""

import json
import random
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field

from compute.models import Instance
from network import segments
from network.models import IPAllocation, Network, Port, SecurityGroup, Subnet
from portal.choices import Role
from portal.models import Membership, Operation, Project
from tests.conftest import client_for, make_user
from tests.integration import netns
from tests.integration.conftest import domain_names, register_lab

TUNNEL_KEY_BASE = (100_000, 16_000_000)  # the lab's NB is shared with other test sessions
PREFIX = 24
CLIENT_MTU = 1400  # under the Geneve overlay's 1442 (OVN DHCP gives the guests that)
PSQL_TIMEOUT_S = 180
CLEANUP_ATTEMPTS = 30
CLEANUP_WAIT_S = 2


@dataclass
class Guest:
    """One database service's guest: where the gateway reaches it and where clients do."""

    service: object
    uri: str
    id: str
    address: str
    client: "Client" = field(repr=False)

    @property
    def at(self):
        return self.uri, self.id

    def psql(self, user, password, database, sql):
        return self.client.psql(self.address, user, password, database, sql)


class Client:
    """A namespace on the tenant's network (an OVN logical port bound on host A's chassis)."""

    def __init__(self, probe):
        self.probe, self.netns = probe, probe.netns

    def psql(self, address, user, password, database, sql):
        """(exit code, output) of ``sql`` sent by the host's psql from the namespace, logging
        in over TCP to ``address``:5432 as ``user``."""
        argv = ["ip", "netns", "exec", self.netns, "env", f"PGPASSWORD={password}", "PGCONNECT_TIMEOUT=20"]
        argv += ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", address, "-U", user, "-d", database]
        done = subprocess.run(argv, input=sql, capture_output=True, text=True, timeout=PSQL_TIMEOUT_S)
        return done.returncode, (done.stdout + done.stderr).strip()

    def reaches(self, address, port):
        """True once a TCP connection from the namespace to ``address``:``port`` succeeds."""
        probe = f"import socket; socket.create_connection(({address!r}, {port}), 3).close()"
        return netns.run("ip", "netns", "exec", self.netns, sys.executable, "-c", probe, check=False).returncode == 0

    def replication_lag(self, primary, replica, user, password, database, table, rows, period_s):
        """Write ``rows`` rows (n = 1..rows) into ``table`` on the primary, one every ``period_s``,
        from the namespace over one connection while another polls the replica for the highest n
        (REPLICA_LAG below); {"lags": [s per row, from the primary's commit to the replica's read],
        "missing": [n never seen], "write_s": [s per INSERT]}."""
        argv = ["ip", "netns", "exec", self.netns, sys.executable, "-c", REPLICA_LAG]
        argv += [primary, replica, user, password, database, table, str(rows), str(period_s)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=rows * period_s + 180)
        if done.returncode != 0:
            raise AssertionError(f"the write load failed ({done.returncode}): {done.stderr[-2000:]}")
        return json.loads(done.stdout)


# Run in the client namespace: a writer on the primary and a reader on the replica, one process,
# one monotonic clock. A row counts as replicated at the first read whose max(n) covers it.
REPLICA_LAG = """
import json, sys, threading, time
import psycopg
primary, replica, user, password, database, table, rows, period = sys.argv[1:9]
rows, period = int(rows), float(period)
def connect(host):
    return psycopg.connect(host=host, user=user, password=password, dbname=database, autocommit=True,
                           connect_timeout=20)
writer, reader = connect(primary), connect(replica)
acked, seen, write_s, done = {}, {}, [], threading.Event()
def read():
    last, deadline = 0, None
    while last < rows:
        top = reader.execute(f"SELECT coalesce(max(n), 0) FROM {table}").fetchone()[0]
        now = time.monotonic()
        for n in range(last + 1, top + 1):
            seen[n] = now
        last = max(last, top)
        if done.is_set():
            deadline = deadline or now + 60
            if now > deadline:
                break
        time.sleep(0.01)
follower = threading.Thread(target=read)
follower.start()
start = time.monotonic()
for n in range(1, rows + 1):
    time.sleep(max(0.0, start + (n - 1) * period - time.monotonic()))
    sent = time.monotonic()
    writer.execute(f"INSERT INTO {table} VALUES (%s, now())", (n,))
    acked[n] = time.monotonic()
    write_s.append(acked[n] - sent)
done.set()
follower.join()
lags = [max(0.0, seen[n] - acked[n]) for n in range(1, rows + 1) if n in seen]
print(json.dumps({"lags": lags, "missing": [n for n in range(1, rows + 1) if n not in seen], "write_s": write_s}))
"""


class DbCloud:
    """A tenant (project, member, API client), its network and what the module ordered."""

    def __init__(self, lab, monkeypatch, cidr):
        self.sfx = uuid.uuid4().hex[:6]
        self.lab, self.nb = lab, lab["ovn"]["nb"]
        monkeypatch.setattr(segments, "TUNNEL_KEY_MIN", random.randrange(*TUNNEL_KEY_BASE))
        admin = make_user(f"itdbadmin{self.sfx}", staff=True)
        self.made = register_lab(admin, lab, monkeypatch, service_templates=True)
        self.template = self.made.get("service_template")
        self.project = Project.objects.create(name=f"it-db-{self.sfx}")
        member = make_user(f"itdb{self.sfx}")
        Membership.objects.create(user=member, project=self.project, role=Role.MEMBER)
        self.api = client_for(member)
        self.services, self.probes, self.client = [], [], None
        self.cidr = cidr
        self.network = None

    def _done(self, response, status=202):
        assert response.status_code == status, f"{response.status_code} {response.content[:800]}"
        body = response.json()
        op = Operation.objects.get(pk=body["id"] if status == 202 else body["operation"])
        assert op.status == "succeeded", f"{op.kind}: {op.error or op.message}"
        return op

    def post(self, path, body, status=202):
        """POST as the tenant; the Operation it started, ended (Celery runs eagerly here)."""
        return self._done(self.api.post(f"/api/v1/{path}", body, format="json"), status)

    def make_network(self):
        net = self.api.post(
            "/api/v1/networks/", {"project": self.project.pk, "name": f"it-db-{self.sfx}"}, format="json"
        )
        assert net.status_code == 201, net.content
        self.network = net.json()
        gateway = self.cidr.rsplit(".", 1)[0] + ".1"
        sub = self.api.post(
            "/api/v1/subnets/", {"network": self.network["id"], "cidr": self.cidr, "gateway_ip": gateway}, format="json"
        )
        assert sub.status_code == 201, sub.content
        port = self.api.post(
            "/api/v1/ports/",
            {"project": self.project.pk, "network": self.network["id"], "name": "psql client"},
            format="json",
        )
        assert port.status_code == 201, port.content
        probe = netns.Probe("db", port.json(), PREFIX)
        self.probes.append(probe)
        probe.up()
        netns.run("ip", "-n", probe.netns, "link", "set", probe.inner, "mtu", CLIENT_MTU)
        self.client = Client(probe)

    def order(self, name):
        """The database ordered through the API on the tenant's network; its Guest."""
        version = self.template.parameter_schema["properties"]["version"]["enum"][0]
        op = self.post(
            "services/",
            {
                "project": self.project.pk,
                "template": self.template.pk,
                "name": name,
                "flavor": self.made["service_flavor"].pk,
                "parameters": {"version": version},
                "networks": [self.network["id"]],
            },
        )
        return self.guest(op.target_id), op

    def add_replica(self, primary, name):
        op = self.post(f"services/{primary.service.pk}/replicas/", {"name": name})
        return self.guest(op.target_id), op

    def guest(self, service_id):
        from catalog.models import Service

        service = Service.objects.select_related("instance__host").get(pk=service_id)
        self.services.append(service)
        instance = service.instance
        address = IPAllocation.objects.get(port__instance=instance).address
        return Guest(service, instance.host.uri, str(instance.uuid), str(address), self.client)

    def cleanup(self):
        """Services (replicas first) through the API, then anything left out of band, the
        client namespace and the NB rows of the module's network objects."""
        from catalog.models import Service

        for service in reversed(self.services):
            instance = Instance.objects.filter(pk=service.instance_id).select_related("host", "image").first()
            if Service.objects.filter(pk=service.pk).exists():
                response = self.api.delete(f"/api/v1/services/{service.pk}/")
                if response.status_code != 202:
                    print(f"service {service.name} not deleted through the API: {response.content[:300]}")
            if instance is not None:
                _remove_domain(instance)
        for probe in self.probes:
            probe.down()
        projects = [self.project]
        uuids = {
            str(u)
            for model in (Network, Subnet, Port, SecurityGroup)
            for u in model.objects.filter(project__in=projects).values_list("uuid", flat=True)
        }
        netns.nb_destroy(self.nb, netns.nb_rows_of(self.nb, uuids))


def _remove_domain(instance):
    """What the portal could not remove: the domain and its root volume on its host."""
    uri, pool = instance.host.uri, instance.image.pool
    virsh = ["virsh", "-c", uri]
    for _ in range(CLEANUP_ATTEMPTS):
        if netns.run(*virsh, "list", "--all", "--name", check=False).returncode == 0:
            break
        time.sleep(CLEANUP_WAIT_S)
    if instance.domain_name in domain_names(uri):
        netns.run(*virsh, "destroy", instance.domain_name, check=False)
        netns.run(*virsh, "undefine", instance.domain_name, check=False)
    if instance.root_volume in netns.run(*virsh, "vol-list", pool, check=False).stdout:
        netns.run(*virsh, "vol-delete", instance.root_volume, "--pool", pool, check=False)
